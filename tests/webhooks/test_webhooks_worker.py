"""Webhooks end to end: real `dramatiq tests.worker_app` processes (the pipeline's `actors`),
a real HTTP receiver that verifies signatures with the README's code, the real database."""

import collections
import contextlib
import datetime
import json
import os
import subprocess
import time

import pytest

from imagepipe.worker_process import start_worker, stop_worker
from models import DeadLetter, WebhookDelivery
from models.image import utcnow
from models.webhooks import SEND_LEASE_S, record_deliveries
from tests.cli.test_cli import imagepipe
from tests.helpers import finish, queued_messages, submit, wait_for_dead_letter, wait_until
from tests.webhooks.receiver import Receiver

SECRET = "whsec-e2e-9f8e7d6c5b4a"
PASSWORD = "r3ceiver-pa55"
#: Webhooks do not touch storage: the local disk is enough (the S3 runs would repeat these).
local_storage = pytest.mark.parametrize("storage", ["local"], indirect=True)


def webhook_env(worker_env, url):
    """The worker's environment with webhooks to ``url`` on a schedule of 200 ms doubling to 1 s."""
    return {
        **worker_env,
        "IMAGEPIPE_WEBHOOK_URL": url,
        "IMAGEPIPE_WEBHOOK_SECRET": SECRET,
        "IMAGEPIPE_WEBHOOK_MIN_BACKOFF_MS": "200",
        "IMAGEPIPE_WEBHOOK_MAX_BACKOFF_MS": "1000",
        "IMAGEPIPE_WEBHOOK_MAX_RETRIES": "100",
    }


@contextlib.contextmanager
def running_worker(env, log_path, processes=1):
    """`dramatiq tests.worker_app --verbose`, its whole output in ``log_path``."""
    with open(log_path, "ab") as log:
        worker = start_worker(
            env,
            module="tests.worker_app",
            cwd=os.getcwd(),
            processes=processes,
            threads=2,
            extra_args=("--verbose",),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            assert stop_worker(worker) == 0


def statuses():
    return sorted(d.status for d in WebhookDelivery.select())


@local_storage
def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back(worker_env, storage, corpus, tmp_path):
    # Given a receiver whose port is closed, and two worker processes sending to it
    receiver = Receiver(SECRET)
    url = f"http://hooks:{PASSWORD}@127.0.0.1:{receiver.port}/hooks"
    log = tmp_path / "worker.log"
    with running_worker(webhook_env(worker_env, url), log, processes=2):
        # when two images complete and one fails (a dead letter) while it is down
        good = [submit(storage, corpus / "formats" / "hopper.jpg", name=f"good-{n}.jpg") for n in range(2)]
        bad = submit(storage, corpus / "bad" / "empty.png")
        images = finish([*good, bad])
        assert [images[i].status for i in (*good, bad)] == ["completed", "completed", "failed"]
        wait_for_dead_letter(bad)
        wait_until(
            lambda: (
                len(statuses()) == 4
                and all(d.attempts >= 2 for d in WebhookDelivery.select())
                and statuses() == ["pending"] * 4
            ),
            30,
            lambda: f"retries of all four deliveries while the receiver is down: {statuses()}",
        )
        # and then it comes back
        with receiver:
            wait_until(lambda: statuses() == ["delivered"] * 4, 30, lambda: f"every delivery: {statuses()}")

    # then it got every event, once each, signed as documented
    assert all(request["verified"] for request in receiver.requests)
    assert len(receiver.requests) == 4
    events = receiver.events()
    assert len({event["id"] for event in events}) == 4
    by_type = collections.defaultdict(list)
    for event in events:
        by_type[event["type"]].append(event["data"])
    assert sorted(data["image"]["id"] for data in by_type["image.completed"]) == sorted(good)
    assert [data["image"]["status"] for data in by_type["image.completed"]] == ["completed"] * 2
    ((failed,),) = [by_type["image.failed"]]
    assert (failed["image"]["id"], failed["image"]["status"]) == (bad, "failed") and failed["image"]["error"]
    ((dead,),) = [by_type["dead_letter.created"]]
    assert (dead["dead_letter"]["actor"], dead["dead_letter"]["image_id"]) == ("ingest", bad)
    assert dead["dead_letter"]["error_type"] == "EmptyFile"
    # and no secret is in a body, a delivery row or the workers' log
    rows = json.dumps(list(WebhookDelivery.select().dicts()), default=str)
    everything = [log.read_text(errors="replace"), rows, *(r["body"].decode() for r in receiver.requests)]
    assert "deliver_webhook" in everything[0]  # the log is the workers' (--verbose lists messages)
    for text in everything:
        assert PASSWORD not in text and SECRET not in text


@local_storage
def test_410_stops_deliveries_to_that_url_until_it_is_redelivered(worker_env, storage, corpus, tmp_path):
    with Receiver(SECRET, status=410) as receiver:
        env = webhook_env(worker_env, receiver.url)
        with running_worker(env, tmp_path / "worker.log"):
            # Given a receiver that answered 410 Gone to the first image's event
            first = submit(storage, corpus / "formats" / "hopper.jpg", name="first.jpg")
            finish([first])
            wait_until(lambda: statuses() == ["gone"], 30, lambda: f"the 410: {statuses()}")
            # when a second image completes
            second = submit(storage, corpus / "formats" / "hopper.jpg", name="second.jpg")
            finish([second])
            wait_until(lambda: len(statuses()) == 2, 10, "the second image's delivery row")
            # then its delivery is gone at once, and nothing more was sent
            assert statuses() == ["gone", "gone"]
            assert len(receiver.requests) == 1

            # When the receiver is back and the operator redelivers the second event
            receiver.status = 200
            latest = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).first()
            result = imagepipe("webhooks", "redeliver", str(latest.id), env=env)
            assert result.returncode == 0, result.stderr
            # then it arrives, and the URL takes events again
            wait_until(lambda: statuses() == ["delivered", "gone"], 30, lambda: f"the redelivery: {statuses()}")
            third = submit(storage, corpus / "formats" / "hopper.jpg", name="third.jpg")
            finish([third])
            wait_until(lambda: statuses() == ["delivered", "delivered", "gone"], 30, "the third image's webhook")

        listed = imagepipe("webhooks", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [(row["status"], row["last_status_code"]) for row in rows] == [
            ("delivered", 200),
            ("delivered", 200),
            ("gone", 410),
        ]
        assert [event["data"]["image"]["id"] for event in receiver.events()] == [first, second, third]
        only_gone = imagepipe("webhooks", "list", "--status", "gone", env=env)
        assert only_gone.returncode == 0, only_gone.stderr
        assert only_gone.stdout.splitlines()[2].split()[0] == str(rows[2]["id"])


@local_storage
def test_deliveries_left_by_a_process_that_died_before_sending_are_sent_by_a_worker(worker_env, tmp_path):
    # Given rows as a killed process leaves them: committed and never sent, or claimed long ago
    with Receiver(SECRET) as receiver:
        data = {"image": {"id": 1, "status": "completed", "error": None}}
        never_sent = record_deliveries("image.completed", data, [receiver.url])
        claimed = record_deliveries("image.completed", data, [receiver.url])
        long_ago = utcnow() - datetime.timedelta(seconds=SEND_LEASE_S + 1)
        WebhookDelivery.update(sent_at=long_ago).where(WebhookDelivery.id.in_(claimed)).execute()
        # when a worker runs
        with running_worker(webhook_env(worker_env, receiver.url), tmp_path / "worker.log"):
            wait_until(lambda: statuses() == ["delivered"] * 2, 30, lambda: f"the left rows: {statuses()}")

    # then each was sent once
    assert sorted(event["id"] for event in receiver.events()) == sorted(
        WebhookDelivery.get_by_id(i).event_id for i in never_sent + claimed
    )


@local_storage
def test_the_last_attempt_fails_the_delivery_without_a_dead_letter(worker_env, tmp_path):
    with Receiver(SECRET, status=500) as receiver:
        (delivery_id,) = record_deliveries("image.failed", {"image": {"id": 1}}, [receiver.url])
        env = {**webhook_env(worker_env, receiver.url), "IMAGEPIPE_WEBHOOK_MAX_RETRIES": "2"}
        with running_worker(env, tmp_path / "worker.log"):
            wait_until(lambda: statuses() == ["failed"], 30, lambda: f"the delivery to fail: {statuses()}")
            time.sleep(1)  # room for a wrong fourth attempt or a dead letter

    delivery = WebhookDelivery.get_by_id(delivery_id)
    assert (delivery.attempts, delivery.last_status_code, len(receiver.requests)) == (3, 500, 3)
    assert DeadLetter.select().count() == 0
    assert queued_messages("webhooks", dead=True) == 0


@local_storage
def test_a_cancel_from_the_cli_reaches_the_receiver_as_image_cancelled(worker_env, storage, corpus, tmp_path):
    with Receiver(SECRET) as receiver:
        env = webhook_env(worker_env, receiver.url)
        # Given an image cancelled while no worker runs (its delivery row is the cancel's)
        image_id = submit(storage, corpus / "formats" / "hopper.jpg")
        cancelled = imagepipe("cancel", str(image_id), env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        assert statuses() == ["pending"]
        # when a worker runs
        with running_worker(env, tmp_path / "worker.log"):
            wait_until(lambda: statuses() == ["delivered"], 30, lambda: f"the cancel's webhook: {statuses()}")

    # then the receiver got it, signed, with the image's status
    (request,) = receiver.requests
    assert request["verified"]
    ((event,),) = [receiver.events()]
    assert (event["type"], event["data"]["image"]) == (
        "image.cancelled",
        {"id": image_id, "status": "cancelled", "error": None},
    )
