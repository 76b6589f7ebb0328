"""EventPublisher: real Redis broker, real worker, real stream; and what happens when Redis is gone."""

import logging
import os
import re
import signal
import time

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from imagepipe.errors import CorruptImage, TransientError
from imagepipe.event_stream import EVENT_FIELD, decode, encode
from imagepipe.graph import PIPELINE
from imagepipe.progress import progress
from imagepipe.redis_server import PrivateRedis, free_port
from middleware import DatabaseConnections, EventPublisher, PipelineRetries, StepTracking
from middleware.shutdown import JobInterrupted
from models import Image, Step, register_image
from tests.conftest import WORKER_TIMEOUT_MS

QUEUE = "event-tests"
MAX_RETRIES = 2
BACKOFF_MS = 20
RETRY_DELAY_MS = 30
TIMEOUT_MS = 100
#: What one write may take beyond its timeout on a loaded test machine (a late wake-up of the
#: writer thread: 0.27 s once in a full CI run on two cores).
SLACK_S = 0.3
#: What a publish costs the job at most: it only queues the event.
PUBLISH_S = 0.02
COMMON_FIELDS = {"type", "ts", "job_id", "actor", "image_id", "queue"}


class Pipeline:
    """Test actors on their own broker, with the middleware in the pipeline's order."""

    def __init__(self, redis_url, database_url, events):
        self.events = events
        self.broker = RedisBroker(
            url=redis_url,
            middleware=[
                DatabaseConnections(database_url=database_url),
                StepTracking(events=events),
                events,
                PipelineRetries(max_retries=MAX_RETRIES, backoff=BACKOFF_MS),
            ],
        )
        self.broker.emit_after("process_boot")

        @dramatiq.actor(broker=self.broker, queue_name=QUEUE, step="ingest")
        def step(image_id, sleep_s=0.0):
            progress(0)
            time.sleep(sleep_s)
            progress(50, "half way")
            progress(100)

        @dramatiq.actor(broker=self.broker, queue_name=QUEUE, step="ingest")
        def flaky(image_id):
            raise TransientError("disk busy")

        @dramatiq.actor(broker=self.broker, queue_name=QUEUE, step="ingest")
        def corrupt(image_id):
            raise CorruptImage("image file is truncated")

        @dramatiq.actor(broker=self.broker, queue_name=QUEUE)
        def plain():
            pass

        @dramatiq.actor(broker=self.broker, queue_name=QUEUE)
        def later():
            raise dramatiq.Retry(delay=RETRY_DELAY_MS)

        @dramatiq.actor(broker=self.broker, queue_name=QUEUE)
        def interrupted():
            raise JobInterrupted()

        self.step, self.flaky, self.corrupt, self.plain = step, flaky, corrupt, plain
        self.later, self.interrupted = later, interrupted
        self.worker = dramatiq.Worker(self.broker, worker_timeout=WORKER_TIMEOUT_MS)

    def run(self, *messages):
        """Send the messages and wait until they (and their retries) are done."""
        for actor, args in messages:
            actor.send(*args)
        self.broker.join(QUEUE, timeout=30_000)
        self.worker.join()


@pytest.fixture
def pipeline(redis_client, redis_url, database_url):
    pipeline = Pipeline(redis_url, database_url, EventPublisher(redis_url=redis_url, timeout_ms=TIMEOUT_MS))
    pipeline.worker.start()
    yield pipeline
    pipeline.worker.stop()
    pipeline.broker.close()


def image_waiting_for_ingest():
    """An image whose other steps are done, so that ingest alone decides how it ends."""
    image = register_image("tests/probe.jpg")
    Step.update(status=Step.DONE).where(Step.image == image.id, Step.name != "ingest").execute()
    assert len(PIPELINE.names) > 1
    return image.id


def stored_events(redis_client, events):
    """The events in the stream, once ``events`` has written what it was given."""
    assert events.flush()
    return [decode(fields) for _, fields in redis_client.xrange("imagepipe:events")]


def test_a_job_goes_queued_active_progress_completed_and_completes_its_image(pipeline, redis_client):
    image_id = image_waiting_for_ingest()

    pipeline.run((pipeline.step, (image_id, 0.05)))

    events = stored_events(redis_client, pipeline.events)
    assert [e["type"] for e in events] == [
        "job-queued",
        "job-active",
        "job-progress",
        "job-progress",
        "job-progress",
        "job-completed",
        "image-completed",
    ]
    assert all(COMMON_FIELDS <= set(e) for e in events)
    assert {(e["job_id"], e["actor"], e["image_id"], e["queue"]) for e in events} == {
        (events[0]["job_id"], "step", image_id, QUEUE)
    }
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert events[1]["attempt"] == 1
    assert [(e["percent"], e.get("note")) for e in events[2:5]] == [(0, None), (50, "half way"), (100, None)]
    assert events[5]["attempt"] == 1 and 50 <= events[5]["duration_ms"] < 5_000
    assert Image.get_by_id(image_id).status == Image.COMPLETED


def test_retries_publish_each_attempt_and_the_last_failure_is_final(pipeline, redis_client):
    image_id = image_waiting_for_ingest()

    pipeline.run((pipeline.flaky, (image_id,)))

    failures = [
        (e["type"], e.get("attempt", e.get("next_attempt")), e["max_attempts"], e.get("final"), e.get("delay_ms"))
        for e in stored_events(redis_client, pipeline.events)
        if e["type"] in ("job-failed", "job-retrying")
    ]
    assert failures == [
        ("job-failed", 1, 3, False, None),
        ("job-retrying", 2, 3, None, BACKOFF_MS),
        ("job-failed", 2, 3, False, None),
        ("job-retrying", 3, 3, None, 2 * BACKOFF_MS),
        ("job-failed", 3, 3, True, None),
    ]
    events = stored_events(redis_client, pipeline.events)
    failed = [e for e in events if e["type"] == "job-failed"]
    assert {(e["error"], e["error_type"]) for e in failed} == {("disk busy", "TransientError")}
    assert [e["attempt"] for e in events if e["type"] == "job-active"] == [1, 2, 3]
    assert [e["type"] for e in events].count("job-queued") == 3  # sent, then each retry when due
    assert events[-1]["type"] == "image-failed" and events[-1]["error"] == "TransientError: disk busy"


def test_a_permanent_error_is_final_at_the_first_attempt(pipeline, redis_client):
    image_id = image_waiting_for_ingest()

    pipeline.run((pipeline.corrupt, (image_id,)))

    events = stored_events(redis_client, pipeline.events)
    assert [e["type"] for e in events] == ["job-queued", "job-active", "job-failed", "image-failed"]
    assert (events[2]["attempt"], events[2]["max_attempts"], events[2]["final"]) == (1, 3, True)
    assert events[3]["error"] == "image file is truncated"


def test_a_retry_with_its_own_delay_reports_that_delay(pipeline, redis_client):
    pipeline.run((pipeline.later, ()))

    retrying = [e for e in stored_events(redis_client, pipeline.events) if e["type"] == "job-retrying"]
    assert [(e["delay_ms"], e["next_attempt"]) for e in retrying] == [(RETRY_DELAY_MS, 2), (RETRY_DELAY_MS, 3)]


def test_a_job_interrupted_at_shutdown_is_not_reported_as_failed(pipeline, redis_client):
    pipeline.run((pipeline.interrupted, ()))

    assert [e["type"] for e in stored_events(redis_client, pipeline.events)] == ["job-queued", "job-active"]


def test_actors_without_a_step_have_no_image_id_unless_given(pipeline, redis_client):
    pipeline.run((pipeline.plain, ()))
    message = pipeline.plain.message()
    pipeline.events.publish("job-dead-lettered", message, image_id=7, dead_letter_id=3)

    events = stored_events(redis_client, pipeline.events)
    assert [(e["type"], e["image_id"]) for e in events] == [
        ("job-queued", None),
        ("job-active", None),
        ("job-completed", None),
        ("job-dead-lettered", 7),
    ]
    assert events[-1]["dead_letter_id"] == 3 and events[-1]["job_id"] == message.message_id


def test_throttled_is_what_rate_limits_call(pipeline, redis_client):
    message = pipeline.step.message(5)

    pipeline.events.throttled(message, 1234)

    (event,) = stored_events(redis_client, pipeline.events)
    assert (event["type"], event["image_id"], event["delay_ms"]) == ("job-throttled", 5, 1234)


def test_events_are_stored_as_one_compact_json_field_and_logged_as_one_line(redis_client, redis_url, caplog):
    events = EventPublisher(redis_url=redis_url)

    with caplog.at_level(logging.INFO, logger="middleware.events"):
        events.publish("job-failed", None, image_id=4, error="disk busy", final=False)
    assert events.flush()

    ((_, fields),) = redis_client.xrange("imagepipe:events")
    assert list(fields) == [EVENT_FIELD.encode()]
    assert fields[EVENT_FIELD.encode()].decode() == encode(decode(fields))
    assert b", " not in fields[EVENT_FIELD.encode()] and b'": ' not in fields[EVENT_FIELD.encode()]
    assert caplog.messages == ['event=job-failed image_id=4 error="disk busy" final=false']


def test_the_stream_is_capped_at_about_maxlen(redis_client, redis_url):
    events = EventPublisher(redis_url=redis_url, maxlen=100)

    for n in range(1_000):
        events.publish("job-progress", None, percent=n % 101)
    assert events.flush()

    assert 100 <= redis_client.xlen("imagepipe:events") < 300


# --- Redis unreachable: jobs go on, each write is bounded, the failure is logged once ---


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def publish_and_flush(events):
    """(seconds the publish took, seconds until the writer's one attempt was over)."""
    _, publishing = timed(lambda: events.publish("job-progress", None, percent=1))
    flushed, flushing = timed(events.flush)
    assert flushed
    return publishing, flushing


@pytest.mark.parametrize("where", ["closed port", "silent port"])
def test_an_unreachable_redis_costs_a_job_nothing_and_each_write_is_bounded(where, silent_port, caplog):
    port = silent_port if where == "silent port" else free_port()
    events = EventPublisher(redis_url=f"redis://127.0.0.1:{port}/0", timeout_ms=TIMEOUT_MS)

    with caplog.at_level(logging.WARNING, logger="imagepipe.event_writer"):
        timings = [publish_and_flush(events) for _ in range(3)]

    assert max(publishing for publishing, _ in timings) < PUBLISH_S
    assert max(flushing for _, flushing in timings) < TIMEOUT_MS / 1000 + SLACK_S
    assert len(caplog.records) == 1 and "Cannot publish events" in caplog.messages[0]


def test_a_stopped_redis_is_logged_once_and_publishing_resumes_when_it_is_back(redis_client, caplog):
    with PrivateRedis() as server:
        events = EventPublisher(redis_url=server.url, timeout_ms=TIMEOUT_MS)
        publish_and_flush(events)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            with caplog.at_level(logging.INFO, logger="imagepipe.event_writer"):
                timings = [publish_and_flush(events) for _ in range(3)]
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        with caplog.at_level(logging.INFO, logger="imagepipe.event_writer"):
            publish_and_flush(events)

    assert max(publishing for publishing, _ in timings) < PUBLISH_S
    assert max(flushing for _, flushing in timings) < TIMEOUT_MS / 1000 + SLACK_S
    assert [record.levelname for record in caplog.records] == ["WARNING", "INFO"]
    assert caplog.messages[-1] == "Publishing events to imagepipe:events again; 3 were lost."


def test_jobs_complete_at_full_speed_when_the_event_redis_hangs(
    redis_client, redis_url, database_url, silent_port, caplog
):
    hung = EventPublisher(redis_url=f"redis://127.0.0.1:{silent_port}/0", timeout_ms=TIMEOUT_MS)
    pipeline = Pipeline(redis_url, database_url, hung)
    image_ids = [image_waiting_for_ingest() for _ in range(3)]
    pipeline.worker.start()
    try:
        with caplog.at_level(logging.WARNING):
            _, elapsed = timed(lambda: pipeline.run(*[(pipeline.step, (image_id,)) for image_id in image_ids]))
    finally:
        pipeline.worker.stop()
        pipeline.broker.close()

    assert [Image.get_by_id(i).status for i in image_ids] == [Image.COMPLETED] * 3
    assert elapsed < 2 * TIMEOUT_MS / 1000 + 1  # no job waited for the 21 events' writes
    assert [r.getMessage()[:21] for r in caplog.records if r.name.startswith("imagepipe.event")] == [
        "Cannot publish events"
    ]
    assert redis_client.xlen("imagepipe:events") == 0


def test_at_shutdown_a_worker_logs_what_its_writer_stored_and_dropped_and_how_long_writes_took(
    redis_client, redis_url, silent_port, caplog
):
    stored = EventPublisher(redis_url=redis_url, timeout_ms=TIMEOUT_MS)
    dropped = EventPublisher(redis_url=f"redis://127.0.0.1:{silent_port}/0", timeout_ms=TIMEOUT_MS)
    for events in (stored, dropped):
        publish_and_flush(events)
        publish_and_flush(events)
    caplog.clear()  # the warning of the lost events

    with caplog.at_level(logging.INFO, logger="imagepipe.event_writer"):
        for events in (stored, dropped):
            events.after_worker_shutdown(None, None)

    pattern = r"Events to imagepipe:events: (\d+) stored, (\d+) dropped; round trips: (\d+), ([\d.]+) ms on average, "
    totals = [re.match(pattern + r"the slowest ([\d.]+) ms\.$", message).groups() for message in caplog.messages]
    assert [counts[:3] for counts in totals] == [("2", "0", "2"), ("0", "2", "2")]
    _, _, _, mean_ms, slowest_ms = map(float, totals[1])
    assert TIMEOUT_MS <= mean_ms <= slowest_ms < TIMEOUT_MS + SLACK_S * 1000
