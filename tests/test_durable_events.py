"""Terminal events kept in the database until the stream has them: none lost, none twice."""

import datetime
import time

from imagepipe.durable_events import DurableEvents
from imagepipe.event_stream import decode, encode
from imagepipe.graph import PIPELINE
from imagepipe.redis_server import free_port
from models import PendingEvent, fail_step, finish_step, pending_events, register_image, start_step

STREAM = "imagepipe:events"


def _events(redis_client):
    return [decode(fields) for _, fields in redis_client.xrange(STREAM)]


def _publisher(url):
    return DurableEvents(redis_url=url, stream=STREAM, maxlen=1000, timeout_ms=200)


def _complete(image_id, event):
    """Every step of the image done; the outbox row of the last finish."""
    for name in PIPELINE.names:
        start_step(image_id, name)
        finished = finish_step(image_id, name, event=event)
    return finished.event


def test_the_move_keeps_its_event_and_a_delivery_publishes_it_once(database_url, redis_client, redis_url):
    image = register_image("a.jpg")
    event = _complete(image.id, encode({"type": "image-completed", "image_id": image.id}))
    assert PendingEvent.select().count() == 1  # committed with the move

    publisher = _publisher(redis_url)
    assert publisher.deliver([event])
    assert publisher.deliver([event])  # a drain that read the row before it was deleted

    assert [e["type"] for e in _events(redis_client)] == ["image-completed"]
    assert PendingEvent.select().count() == 0


def test_an_event_left_by_a_killed_process_is_drained_once_it_is_old_enough(database_url, redis_client, redis_url):
    image = register_image("a.jpg")
    start_step(image.id, "ingest")
    failed = fail_step(image.id, "ingest", "corrupt", event=encode({"type": "image-failed", "image_id": image.id}))
    # the process that failed it died here, before it published
    publisher = _publisher(redis_url)
    assert publisher.drain() == 0  # too young: its own process may still publish it

    PendingEvent.update(created_at=datetime.datetime(2000, 1, 1)).execute()
    assert publisher.drain() == 1
    assert publisher.drain() == 0

    assert failed.failed and [e["type"] for e in _events(redis_client)] == ["image-failed"]


def test_while_redis_is_away_the_event_waits_in_the_database(database_url, redis_client, redis_url):
    image = register_image("a.jpg")
    event = _complete(image.id, encode({"type": "image-completed", "image_id": image.id}))

    assert not _publisher(f"redis://127.0.0.1:{free_port()}/0").deliver([event])
    assert pending_events() == [event]
    assert _publisher(redis_url).deliver(pending_events())
    assert [e["type"] for e in _events(redis_client)] == ["image-completed"]


def test_a_move_that_another_call_made_keeps_no_event(database_url):
    image = register_image("a.jpg")
    start_step(image.id, "ingest")
    fail_step(image.id, "ingest", "corrupt", event="first")

    again = fail_step(image.id, "ingest", "corrupt", event="second")

    assert (again.failed, again.event) == (False, None)
    assert [payload for _, payload in pending_events()] == ["first"]


def test_an_event_whose_row_id_comes_again_is_still_published(database_url, redis_client, redis_url):
    """SQLite hands a deleted row's id out again: what marks an event sent is the event itself."""
    publisher = _publisher(redis_url)
    for n in (1, 2):
        image = register_image(f"{n}.jpg")
        assert publisher.deliver([_complete(image.id, encode({"type": "image-completed", "image_id": image.id}))])

    assert [e["image_id"] for e in _events(redis_client)] == [1, 2]


def test_after_a_failure_a_job_leaves_its_events_to_the_drain_without_waiting(database_url):
    image = register_image("a.jpg")
    event = _complete(image.id, encode({"type": "image-completed", "image_id": image.id}))
    publisher = _publisher(f"redis://127.0.0.1:{free_port()}/0")

    assert not publisher.publish(event)
    started = time.monotonic()
    assert not publisher.publish(event)  # no second attempt within QUIET_AFTER_FAILURE_S

    assert time.monotonic() - started < 0.01
    assert pending_events() == [event]
