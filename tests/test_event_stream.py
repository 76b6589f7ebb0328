"""Reading the events stream: resume after an id, filter by image, stop on time or on demand."""

import threading
import time

from imagepipe.event_stream import FROM_START, logfmt, newest_id, read_events
from middleware import EventPublisher


def publish_for(events, *image_ids):
    for image_id in image_ids:
        events.publish("job-progress", None, image_id=image_id, percent=10)
    assert events.flush()


def stream_ids(redis_client):
    return [entry_id.decode() for entry_id, _ in redis_client.xrange("imagepipe:events")]


def test_resuming_after_an_id_returns_exactly_the_later_events(redis_client, redis_url):
    events = EventPublisher(redis_url=redis_url)
    publish_for(events, 1, 2, 3, 4, 5)
    ids = stream_ids(redis_client)

    resumed = list(read_events(redis_client, last_id=ids[1], timeout_s=0.2))

    assert [stream_id for stream_id, _ in resumed] == ids[2:]
    assert [event["image_id"] for _, event in resumed] == [3, 4, 5]


def test_from_start_and_by_image(redis_client, redis_url):
    events = EventPublisher(redis_url=redis_url)
    publish_for(events, 1, 2, 1, 3)

    ones = list(read_events(redis_client, last_id=FROM_START, image_ids=["1"], timeout_s=0.2))

    assert [event["image_id"] for _, event in ones] == [1, 1]


def test_without_an_id_only_new_events_are_read(redis_client, redis_url):
    events = EventPublisher(redis_url=redis_url)
    publish_for(events, 1)
    threading.Timer(0.2, publish_for, (events, 2)).start()

    new = list(read_events(redis_client, block_ms=100, timeout_s=1.0))

    assert [event["image_id"] for _, event in new] == [2]


def test_newest_id_of_an_empty_stream_reads_from_the_start(redis_client, redis_url):
    assert newest_id(redis_client) == FROM_START
    publish_for(EventPublisher(redis_url=redis_url), 1, 2)
    assert newest_id(redis_client) == stream_ids(redis_client)[-1]


def test_stop_is_asked_between_reads(redis_client):
    asked = []
    started = time.monotonic()

    assert list(read_events(redis_client, block_ms=50, stop=lambda: asked.append(1) or len(asked) > 3)) == []
    assert len(asked) == 4 and time.monotonic() - started < 1


def test_logfmt_quotes_what_needs_it_and_drops_nulls():
    fields = {"event": "job-failed", "error": 'bad "x"', "final": True, "note": None, "empty": ""}

    assert logfmt(fields) == 'event=job-failed error="bad \\"x\\"" final=true empty=""'
