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
import itertools
import threading
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
#: How often an ActivityReader reads the whole hour again, in seconds (the closed minutes in
#: between come from its memory).
REREAD_S = 60
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
    return ActivityReader(client, stream).read(now)


class ActivityReader:
    """Reads the last hour again and again (a page polls it), re-reading only what can change.

    A closed minute rarely changes: a job's counts arrive within the writer's linger, and only
    a terminal event that waited in the outbox (its Redis was away) is counted in its own,
    older minute when a drain publishes it. So each ``read`` fetches the current and the
    previous minute, and the whole hour when the last full read is ``reread_s`` old: a late
    count shows within that, and a poll costs Redis two small hashes instead of sixty.
    Safe to share between threads.
    """

    def __init__(self, client, stream, reread_s=REREAD_S):
        self.client = client
        self.stream = stream
        self.reread_s = reread_s
        self._minutes = {}  # minute start -> its counts, as last read
        self._read_all_at = None
        self._lock = threading.Lock()

    def read(self, now=None):
        now = time.time() if now is None else now
        last = int(now // BUCKET_S * BUCKET_S)
        starts = range(last - WINDOW_S + BUCKET_S, last + BUCKET_S, BUCKET_S)
        with self._lock:
            stale = self._read_all_at is None or not 0 <= now - self._read_all_at < self.reread_s
            wanted = list(starts) if stale else list(starts[-2:])
            with self.client.pipeline(transaction=False) as pipe:
                for start in wanted:
                    pipe.hgetall(f"{self.stream}:activity:{start}")
                answers = pipe.execute()
            if stale:
                self._read_all_at = now
                self._minutes = {}
            for start, fields in zip(wanted, answers, strict=True):
                self._minutes[start] = {key.decode(): int(value) for key, value in fields.items()}
            self._minutes = {start: self._minutes[start] for start in starts if start in self._minutes}
            hashes = [self._minutes.get(start, {}) for start in starts]
        return _summary(starts, hashes)


def _summary(starts, hashes):
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
    index = next(i for i, upto in enumerate(itertools.accumulate(buckets)) if buckets[i] and upto >= rank)
    below, count = sum(buckets[:index]), buckets[index]
    if index == len(DURATION_BOUNDS_MS):
        return DURATION_BOUNDS_MS[-1]
    lower = DURATION_BOUNDS_MS[index - 1] if index else 0
    return round(lower + (DURATION_BOUNDS_MS[index] - lower) * (rank - below) / count)
