"""The last hour of work, per minute, kept in the events Redis: what ``GET /api/activity`` shows.

A fresh browser tab must see the last hour, so the counts live on the server, in one hash a
minute, ``<events stream>:activity:<minute start, unix s>``, kept ``KEEP_S``:

* ``completed:<step>`` / ``failed:<step>``: job attempts of a pipeline step that ended so
  (a failure that is retried counts once per attempt);
* ``ms:<step>:<i>``: completed attempts whose duration fell in bucket ``i`` of
  ``DURATION_BOUNDS_MS`` (the last bucket: longer than the last bound). Percentiles come from
  the bucket counts, as Prometheus's ``histogram_quantile`` does: exact to a bucket's width;
* ``images_completed`` / ``images_failed``: the images that ended, counted by
  ``publish_once.lua`` when it appends their terminal event, so exactly once.

Workers add to these in the round trip that already carries their events
(imagepipe.event_writer), so counting costs a job no Redis call; when Redis is away the
counts are dropped with the events, under the writer's one warning.
"""

import bisect
import time

from imagepipe.graph import PIPELINE

#: The width of one bucket and the window ``GET /api/activity`` shows, in seconds.
BUCKET_S = 60
WINDOW_S = 3600
#: How long a minute's hash lives, in seconds: the window, and as much again for clock skew
#: and late readers.
KEEP_S = 2 * WINDOW_S
#: Upper bounds of the duration buckets, in ms (1-2.5-5 steps, from a no-op to a 2-minute encode).
DURATION_BOUNDS_MS = (
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
)  # fmt: skip
#: The events whose attempts are counted.
JOB_ENDS = {"job-completed": "completed", "job-failed": "failed"}


def minute_key(stream, ts):
    """The hash of the minute that holds unix time ``ts`` (publish_once.lua builds the same)."""
    return f"{stream}:activity:{int(ts // BUCKET_S * BUCKET_S)}"


def duration_bucket(duration_ms):
    """The index of the bucket of ``duration_ms``: the first bound at or above it."""
    return bisect.bisect_left(DURATION_BOUNDS_MS, duration_ms)


def job_counts(event, stream):
    """What a ``job-completed`` or ``job-failed`` event of a pipeline step adds:
    ``(hash key, (field, ...))``, or None for any other event."""
    outcome = JOB_ENDS.get(event["type"])
    step = outcome and PIPELINE.of_actor(event["actor"])
    if step is None:
        return None
    fields = [f"{outcome}:{step.name}"]
    duration_ms = event.get("duration_ms")
    if outcome == "completed" and duration_ms is not None:
        fields.append(f"ms:{step.name}:{duration_bucket(duration_ms)}")
    return minute_key(stream, event["ts"]), tuple(fields)


def read_activity(client, stream, now=None):
    """The last hour as ``GET /api/activity`` returns it (README, "Queues and workers"): 60
    minutes oldest first, the current one last, and per step its totals and percentiles."""
    now = time.time() if now is None else now
    last = int(now // BUCKET_S * BUCKET_S)
    starts = range(last - WINDOW_S + BUCKET_S, last + BUCKET_S, BUCKET_S)
    with client.pipeline(transaction=False) as pipe:
        for start in starts:
            pipe.hgetall(f"{stream}:activity:{start}")
        hashes = [{key.decode(): int(value) for key, value in fields.items()} for fields in pipe.execute()]
    minutes = [
        {
            "start": start,
            "completed": sum(counts.get(f"completed:{step.name}", 0) for step in PIPELINE),
            "failed": sum(counts.get(f"failed:{step.name}", 0) for step in PIPELINE),
            "images_completed": counts.get("images_completed", 0),
            "images_failed": counts.get("images_failed", 0),
        }
        for start, counts in zip(starts, hashes, strict=True)
    ]
    return {"window_s": WINDOW_S, "bucket_s": BUCKET_S, "minutes": minutes, "steps": _steps(hashes)}


def _steps(hashes):
    steps = []
    for step in PIPELINE:
        buckets = [sum(counts.get(f"ms:{step.name}:{i}", 0) for counts in hashes) for i in _bucket_indexes()]
        steps.append(
            {
                "step": step.name,
                "completed": sum(counts.get(f"completed:{step.name}", 0) for counts in hashes),
                "failed": sum(counts.get(f"failed:{step.name}", 0) for counts in hashes),
                "p50_ms": percentile(buckets, 0.50),
                "p95_ms": percentile(buckets, 0.95),
            }
        )
    return steps


def _bucket_indexes():
    return range(len(DURATION_BOUNDS_MS) + 1)


def percentile(buckets, quantile):
    """The ``quantile`` of durations counted in ``buckets`` (one count per bucket), in whole ms,
    interpolated linearly inside its bucket; None when nothing was counted. Like Prometheus, a
    rank in the open-ended last bucket answers the last bound."""
    total = sum(buckets)
    if not total:
        return None
    rank = quantile * total
    below = 0
    for index, count in enumerate(buckets):
        if count and below + count >= rank:
            if index == len(DURATION_BOUNDS_MS):
                return DURATION_BOUNDS_MS[-1]
            lower = DURATION_BOUNDS_MS[index - 1] if index else 0
            upper = DURATION_BOUNDS_MS[index]
            return round(lower + (upper - lower) * (rank - below) / count)
        below += count
    return DURATION_BOUNDS_MS[-1]  # not reached: the loop ends at the last counted bucket
