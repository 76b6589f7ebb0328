"""``POST /purge`` and the webhook delivery routes: the CLI's operator writes, over HTTP."""

import pytest

from models import DeadLetter, Image
from models.webhooks import WebhookDelivery
from tests.test_queues_view import dead_letter
from tests.test_retention import days_ago, stored_image

pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)


def test_purge_applies_retention_or_counts_what_it_would_delete(serve, storage):
    api = serve(retain_failed_images_days=7.0, retain_replayed_dead_letters_days=30.0)
    old, _ = stored_image(storage, Image.FAILED, 30)
    young, _ = stored_image(storage, Image.FAILED, 2)
    replayed = dead_letter("images", True)
    DeadLetter.update(replayed_at=days_ago(40)).where(DeadLetter.id == replayed.id).execute()

    counted = api.post("/purge", params={"dry_run": "1"})
    assert counted.status_code == 200 and counted.json()["dry_run"] is True
    assert {kind["kind"]: kind["count"] for kind in counted.json()["kinds"]} == {
        "failed_images": 1, "replayed_dead_letters": 1,
    }  # fmt: skip
    assert Image.select().count() == 2

    done = api.post("/purge")
    assert done.status_code == 200 and done.json()["dry_run"] is False
    assert [image.id for image in Image.select()] == [young] and old != young
    assert DeadLetter.select().count() == 0


def test_purge_says_when_retention_is_off(serve):
    response = serve().post("/purge")
    assert response.status_code == 409 and "IMAGEPIPE_RETAIN_" in response.json()["error"]


def test_a_gone_delivery_is_listed_and_sent_again(serve):
    api = serve()
    delivery = WebhookDelivery.create(
        event_id="e1",
        event_type="image.completed",
        url="http://127.0.0.1:9/hook?key=s3cr3t&v=2",
        body="{}",
        status="gone",
        attempts=3,
    )
    listed = api.get("/webhooks").json()["deliveries"]
    assert [(d["id"], d["status"], d["attempts"]) for d in listed] == [(delivery.id, "gone", 3)]
    assert listed[0]["url"] == "http://127.0.0.1:9/hook?key=[Filtered]&v=[Filtered]"  # a read token sees this
    assert api.post(f"/webhooks/{delivery.id}/redeliver").status_code == 202
    again = WebhookDelivery.get_by_id(delivery.id)
    assert (again.status, again.attempts) == (WebhookDelivery.PENDING, 0)
    missing = api.post("/webhooks/999/redeliver")
    assert missing.status_code == 404 and "999" in missing.json()["error"]
