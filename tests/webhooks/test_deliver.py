"""One delivery against a real HTTP receiver and a real database, without a worker: what each
answer does to the delivery log (imagepipe.webhooks, models.webhooks)."""

import json

import pytest

from imagepipe.settings import Settings
from imagepipe.webhooks import DeliveryFailed, deliver
from models import Image, WebhookDelivery, database, fail_step, register_image, start_step
from models.webhooks import claim_unsent, record_deliveries, redeliver
from tests.conftest import with_postgres
from tests.webhooks.receiver import Receiver, free_port

SECRET = "whsec-deliver-test"


def settings_for(*urls, timeout_ms=2000):
    return Settings.from_env(
        {
            "IMAGEPIPE_WEBHOOK_URL": " ".join(urls),
            "IMAGEPIPE_WEBHOOK_SECRET": SECRET,
            "IMAGEPIPE_WEBHOOK_TIMEOUT_MS": str(timeout_ms),
        }
    )


@pytest.fixture
def receiver():
    with Receiver(SECRET) as running:
        yield running


def one_delivery(url):
    (delivery_id,) = record_deliveries("image.completed", {"image": {"id": 1, "status": "completed"}}, [url])
    return delivery_id


def test_a_2xx_answer_delivers_the_signed_body_once(database_url, receiver):
    delivery_id = one_delivery(receiver.url)

    assert deliver(delivery_id, settings_for(receiver.url), final=False) == "delivered"
    assert deliver(delivery_id, settings_for(receiver.url), final=False) == "delivered"  # a duplicate message

    (event,) = receiver.events()
    delivery = WebhookDelivery.get_by_id(delivery_id)
    assert event == json.loads(delivery.body)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None


def test_another_answer_is_retried_then_fails_on_the_last_attempt(database_url, receiver):
    receiver.status = 503
    delivery_id = one_delivery(receiver.url)

    with pytest.raises(DeliveryFailed):
        deliver(delivery_id, settings_for(receiver.url), final=False)
    assert WebhookDelivery.get_by_id(delivery_id).status == "pending"
    assert deliver(delivery_id, settings_for(receiver.url), final=True) == "failed"

    delivery = WebhookDelivery.get_by_id(delivery_id)
    assert (delivery.attempts, delivery.last_status_code, len(receiver.requests)) == (2, 503, 2)


def test_a_refused_connection_and_a_hung_receiver_are_attempts_to_retry(database_url, silent_port):
    closed = f"http://127.0.0.1:{free_port()}/hooks"
    hung = f"http://127.0.0.1:{silent_port}/hooks"
    settings = settings_for(closed, hung, timeout_ms=300)
    for url in (closed, hung):
        delivery_id = one_delivery(url)
        with pytest.raises(DeliveryFailed):
            deliver(delivery_id, settings, final=False)
        delivery = WebhookDelivery.get_by_id(delivery_id)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
        assert delivery.last_error


@with_postgres
def test_410_marks_the_url_gone_and_later_events_are_not_sent_until_a_redelivery(database_url, receiver):
    receiver.status = 410
    settings = settings_for(receiver.url)
    first = one_delivery(receiver.url)
    waiting = one_delivery(receiver.url)  # pending when the 410 comes

    assert deliver(first, settings, final=False) == "gone"
    later = one_delivery(receiver.url)

    assert [WebhookDelivery.get_by_id(i).status for i in (first, waiting, later)] == ["gone"] * 3
    assert deliver(waiting, settings, final=False) == "gone"
    assert len(receiver.requests) == 1
    assert claim_unsent() == []

    receiver.status = 200
    redeliver([later])
    assert claim_unsent() == [later]
    assert deliver(later, settings, final=False) == "delivered"
    assert len(receiver.requests) == 2


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_stored(database_url, receiver):
    url = f"http://hook-user:pa55-w0rd@127.0.0.1:{receiver.port}/hooks"
    delivery_id = one_delivery(url)

    assert deliver(delivery_id, settings_for(url), final=False) == "delivered"

    (request,) = receiver.requests
    assert request["headers"]["Authorization"] == "Basic aG9vay11c2VyOnBhNTUtdzByZA=="
    stored = json.dumps(list(WebhookDelivery.select().dicts()), default=str)
    assert "pa55-w0rd" not in stored and "hook-user" not in stored
    assert WebhookDelivery.get_by_id(delivery_id).url == f"http://***@127.0.0.1:{receiver.port}/hooks"


def test_a_url_taken_out_of_the_setting_fails_its_deliveries_without_a_request(database_url, receiver):
    delivery_id = one_delivery(receiver.url)

    assert deliver(delivery_id, settings_for("https://other.example/hooks"), final=False) == "failed"
    assert receiver.requests == []


@with_postgres
def test_the_deliveries_are_written_in_the_transaction_of_their_event(database_url, receiver, monkeypatch):
    """A rolled-back image failure leaves no delivery; a committed one leaves one per URL."""
    monkeypatch.setattr("models.lifecycle.get_settings", lambda: settings_for(receiver.url, receiver.url + "/2"))
    image = register_image("tests/a.jpg")
    start_step(image.id, "ingest")
    event = json.dumps({"type": "image-failed", "image_id": image.id, "error": "bad at redis://u:pw@host/0"})

    with pytest.raises(RuntimeError), database.atomic():
        fail_step(image.id, "ingest", "broken", event=event)
        raise RuntimeError("killed before the commit")
    assert WebhookDelivery.select().count() == 0 and Image.get_by_id(image.id).status != "failed"

    fail_step(image.id, "ingest", "broken", event=event)
    bodies = [json.loads(d.body) for d in WebhookDelivery.select()]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert bodies[0]["type"] == "image.failed" and bodies[0]["id"].startswith("evt_")
    assert bodies[0]["data"] == {
        "image": {"id": image.id, "status": "failed", "error": "bad at redis://[Filtered]@host/0"}
    }


@with_postgres
def test_each_unsent_delivery_is_claimed_once(database_url):
    ids = [one_delivery(f"https://a.example/{n}") for n in range(3)]

    assert claim_unsent() == ids
    assert claim_unsent() == []
