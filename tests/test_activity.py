"""imagepipe.activity: the per-minute counts, written by the real event writer and Lua scripts
to a real Redis, and read back as ``GET /api/activity`` returns them."""

import json
import time

from imagepipe.activity import (
    BUCKET_S,
    DURATION_BOUNDS_MS,
    KEEP_S,
    ActivityReader,
    minute_key,
    percentile,
    read_activity,
)
from imagepipe.durable_events import DurableEvents
from middleware.events import EventPublisher

STREAM = "tests:activity-events"


def test_percentiles_interpolate_inside_the_bucket_as_prometheus_does():
    # 1..100 ms: 5 in (0, 5], 5 in (5, 10], 15 in (10, 25], 25 in (25, 50], 50 in (50, 100]
    buckets = [0] * (len(DURATION_BOUNDS_MS) + 1)
    for duration_ms in range(1, 101):
        buckets[next(i for i, bound in enumerate(DURATION_BOUNDS_MS) if duration_ms <= bound)] += 1

    assert (percentile(buckets, 0.5), percentile(buckets, 0.95)) == (50, 95)
    assert percentile([0] * len(buckets), 0.5) is None
    assert percentile([0] * (len(buckets) - 1) + [3], 0.5) == DURATION_BOUNDS_MS[-1]  # beyond the last bound


def test_job_ends_count_per_minute_and_pipeline_step(redis_client, redis_url):
    """The counts travel with the events in the writer's one call, merged per field."""
    now = time.time()
    minute = int(now // BUCKET_S * BUCKET_S)
    publisher = EventPublisher(redis_url=redis_url, stream=STREAM)

    # given: 3 failed metadata attempts a minute ago; this minute a step-less actor's job and
    # a progress event, neither of which counts
    for _ in range(3):
        publisher.publish("job-failed", None, actor="extract_metadata", ts=now - BUCKET_S, duration_ms=4)
    publisher.publish("job-completed", None, actor="rate_probe", duration_ms=1)
    publisher.publish("job-progress", None, actor="ingest", percent=50)
    assert publisher.flush()

    activity = read_activity(redis_client, STREAM, now=now)

    assert (activity["window_s"], activity["bucket_s"], len(activity["minutes"])) == (3600, 60, 60)
    assert [m["start"] for m in activity["minutes"][-2:]] == [minute - BUCKET_S, minute]
    assert activity["minutes"][-1] == {
        "start": minute,
        "completed": 0,
        "failed": 0,
        "images_completed": 0,
        "images_failed": 0,
    }
    assert activity["minutes"][-2]["failed"] == 3
    assert all(m["completed"] == m["failed"] == 0 for m in activity["minutes"][:-2])
    metadata = activity["steps"][2]
    assert metadata == {"step": "metadata", "completed": 0, "failed": 3, "p50_ms": None, "p95_ms": None}
    assert 0 < redis_client.ttl(minute_key(STREAM, now - BUCKET_S)) <= KEEP_S


def test_completed_attempts_give_each_step_its_percentiles(redis_client, redis_url):
    now = time.time()
    publisher = EventPublisher(redis_url=redis_url, stream=STREAM)
    for duration_ms in range(1, 101):
        publisher.publish("job-completed", None, actor="ingest", ts=now, duration_ms=duration_ms)
    publisher.publish("job-completed", None, actor="make_variants", ts=now, duration_ms=30_000)
    assert publisher.flush()

    activity = read_activity(redis_client, STREAM, now=now)

    assert activity["minutes"][-1]["completed"] == 101
    assert [step["step"] for step in activity["steps"]] == ["ingest", "variants", "metadata", "embed", "describe"]
    assert activity["steps"][0] == {"step": "ingest", "completed": 100, "failed": 0, "p50_ms": 50, "p95_ms": 95}
    assert activity["steps"][1]["p50_ms"] == 37_500  # the middle of the (25 s, 50 s] bucket


def test_an_image_that_ended_counts_once_however_often_its_event_is_delivered(redis_client, redis_url, database_url):
    """Two drains (or a retry after a lost reply) append a terminal event once, and count it once."""
    now = time.time()
    durable = DurableEvents(redis_url=redis_url, stream=STREAM, maxlen=1000, timeout_ms=1000)
    completed = (1, json.dumps({"type": "image-completed", "ts": now, "image_id": 1}))
    failed = (2, json.dumps({"type": "image-failed", "ts": now, "image_id": 2}))

    assert durable.deliver([completed, failed])
    assert durable.deliver([completed])

    minute = read_activity(redis_client, STREAM, now=now)["minutes"][-1]
    assert (minute["images_completed"], minute["images_failed"]) == (1, 1)
    assert redis_client.xlen(STREAM) == 2


def test_a_reader_rereads_closed_minutes_only_every_reread_s(redis_client, redis_url):
    """A poll fetches the current and previous minute; a late count in an older minute (a
    drained terminal event) shows once the reader reads the whole hour again."""
    now = time.time() // BUCKET_S * BUCKET_S + 1
    reader = ActivityReader(redis_client, STREAM, reread_s=30)
    assert reader.read(now)["minutes"][-3]["images_completed"] == 0

    for ago in (0, 1, 2):  # minutes back from now
        redis_client.hincrby(minute_key(STREAM, now - ago * BUCKET_S), "images_completed", 1)

    assert [m["images_completed"] for m in reader.read(now + 1)["minutes"][-3:]] == [0, 1, 1]
    assert [m["images_completed"] for m in reader.read(now + 31)["minutes"][-3:]] == [1, 1, 1]
