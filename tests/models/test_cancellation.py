"""Cancelling an image and sending it again: transitions that race with running steps."""

import time

import pytest

from imagepipe.errors import JobCancelled
from imagepipe.graph import PIPELINE
from middleware import step_watch
from middleware.step_watch import StepWatch
from models import (
    Image,
    PendingEvent,
    Step,
    cancel_image,
    fail_step,
    finish_step,
    register_image,
    retry_image,
    start_step,
    step_timeline,
)
from tests.conftest import with_postgres


def statuses(image_id):
    return dict(Step.select(Step.name, Step.status).where(Step.image == image_id).tuples())


@with_postgres
def test_a_cancel_stops_every_step_not_done_and_keeps_its_event(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest", worker="host:1")
    finish_step(image.id, "ingest")
    assert start_step(image.id, "variants", worker="host:1")  # running when the cancel comes

    kept = cancel_image(image.id, event='{"type":"image-cancelled"}')

    assert kept.cancelled and PendingEvent.get_by_id(kept.event[0]).payload == '{"type":"image-cancelled"}'
    assert Image.get_by_id(image.id).status == "cancelled"
    assert statuses(image.id) == {
        "ingest": "done",
        "variants": "cancelled",
        "metadata": "cancelled",
        "describe": "cancelled",
        "embed": "cancelled",
    }
    assert cancel_image(image.id) == (False, None)  # once


@with_postgres
def test_a_cancelled_image_runs_no_step_and_its_running_step_cannot_undo_it(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest")
    cancel_image(image.id)

    assert start_step(image.id, "ingest") is False  # a redelivery: StepTracking skips it
    finished = finish_step(image.id, "ingest")  # the attempt that was running ends anyway
    failed = fail_step(image.id, "ingest", "boom")

    assert (finished.completed, finished.ready, failed.failed) == (False, (), False)
    assert Image.get_by_id(image.id).status == "cancelled"
    assert statuses(image.id)["ingest"] == "cancelled"


def test_an_ended_image_cannot_be_cancelled(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest")
    fail_step(image.id, "ingest", "corrupt")

    assert cancel_image(image.id).cancelled is False
    assert Image.get_by_id(image.id).status == "failed"


@with_postgres
def test_a_retry_queues_the_cancelled_steps_and_names_those_to_send_now(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest")
    finish_step(image.id, "ingest")
    cancel_image(image.id)

    ready = retry_image(image.id)

    assert set(ready) == {"variants", "metadata", "describe"}  # embed waits for metadata
    assert Image.get_by_id(image.id).status == "queued"
    assert statuses(image.id)["embed"] == "queued" and statuses(image.id)["ingest"] == "done"
    assert retry_image(image.id) is None  # not cancelled any more


def test_the_timeline_has_every_step_with_its_worker_duration_and_last_progress(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest", worker="web-1:4242")
    time.sleep(0.05)
    finish_step(image.id, "ingest")
    assert start_step(image.id, "variants", worker="web-2:7")
    watch = StepWatch(image.id, "variants")
    watch._recorded -= step_watch.RECORD_INTERVAL_S  # as if the attempt had run for a while
    watch.report(42.123, "encoding")

    timeline = step_timeline(image.id)

    ingest, variants = timeline["steps"][:2]
    assert (ingest["name"], ingest["status"], ingest["attempts"], ingest["worker"]) == (
        "ingest",
        "done",
        1,
        "web-1:4242",
    )
    assert ingest["duration_ms"] >= 50 and ingest["finished_at"].endswith("Z")
    assert (variants["status"], variants["worker"], variants["duration_ms"]) == ("processing", "web-2:7", None)
    assert [step["name"] for step in timeline["steps"]] == list(PIPELINE.names)
    assert timeline["progress"]["step"] == "variants"
    assert (timeline["progress"]["percent"], timeline["progress"]["note"]) == (42.1, "encoding")


def test_a_short_attempt_writes_no_progress(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest")

    StepWatch(image.id, "ingest").report(90, "checked")  # sooner than RECORD_INTERVAL_S

    assert step_timeline(image.id)["progress"] is None


def test_the_watch_raises_once_the_image_is_cancelled_and_not_before(database_url):
    image = register_image("a.jpg")
    assert start_step(image.id, "ingest")
    watch = StepWatch(image.id, "ingest")
    watch._checked -= step_watch.CANCEL_CHECK_INTERVAL_S
    watch.tick()  # not cancelled: nothing happens

    cancel_image(image.id)
    watch._checked -= step_watch.CANCEL_CHECK_INTERVAL_S

    with pytest.raises(JobCancelled, match=f"image {image.id} was cancelled"):
        watch.report(50)


def test_a_step_still_running_when_its_image_is_retried_completes_it(database_url):
    """Cancelled while the step ran on (no progress call), retried before it ended: its end
    completes the image, and the retried message is skipped as done."""
    image = register_image("a.jpg")
    for name in PIPELINE.names:
        if name != "embed":
            assert start_step(image.id, name)
            finish_step(image.id, name)
    assert start_step(image.id, "embed")
    cancel_image(image.id)
    assert retry_image(image.id) == ("embed",)

    finished = finish_step(image.id, "embed")  # the attempt that ran on through the cancel

    assert finished.completed and Image.get_by_id(image.id).status == "completed"
    assert start_step(image.id, "embed") is False
