"""Writing events to the capped stream without making the job that reports them wait."""

import atexit
import collections
import logging
import os
import threading
import time
import weakref
from pathlib import Path

import redis

from imagepipe.activity import KEEP_S
from imagepipe.event_stream import EVENT_FIELD

logger = logging.getLogger(__name__)

APPEND_SCRIPT = (Path(__file__).parent / "append_events.lua").read_text()

#: Events kept in memory while Redis is slow or away; more are dropped (and counted).
DEFAULT_MAX_PENDING = 10_000
#: The most events sent in one round trip.
BATCH_SIZE = 500
#: How long ``flush``, and so the exit of a process that wrote events, waits at most.
DEFAULT_FLUSH_TIMEOUT_S = 2.0
#: How long the writer lets events gather before it sends them; the latency it adds to events.
LINGER_S = 0.005
#: How often ``flush`` looks whether everything was sent.
FLUSH_POLL_S = 0.005


def bounded_client(redis_url, timeout_ms):
    """A Redis client whose every call takes at most ``timeout_ms`` (connect and read): one try,
    as a retry would multiply the time that events wait behind a dead Redis, and no CLIENT
    SETINFO round trips on each (re)connect."""
    timeout_s = timeout_ms / 1000
    return redis.Redis.from_url(
        redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=None, driver_info=None
    )


class StreamWriter:
    """Appends events to a capped Redis Stream from one background thread a process.

    An event must never fail or slow down the job it reports on, and one Redis round trip an
    event cost a no-op job about a third of its throughput (measured: 1,300 against 1,950
    jobs/s). So ``write`` only queues the event in memory, and a daemon thread sends whatever
    has queued up, in order, in one call of a Lua script that runs ``XADD ... MAXLEN ~``
    for each (``append_events.lua``). The same call adds the events' activity counts
    (imagepipe.activity) to their minute's hash, which lives ``counts_keep_s``.

    Each round trip is bounded by ``timeout_ms`` (connect and read timeouts, no retries inside
    redis-py). A batch that fails is dropped: the first loss is logged as a warning, and the
    recovery at INFO with how many events were lost. At most ``max_pending`` events wait; more
    are dropped the same way. What is pending is flushed at exit (``DEFAULT_FLUSH_TIMEOUT_S``).
    ``log_totals`` says what a process stored and lost, and how long its round trips took.

    The thread and its Redis client start on the first write in each process, so never at
    import and again in a forked child.
    """

    def __init__(self, *, redis_url, stream, maxlen, timeout_ms, max_pending=DEFAULT_MAX_PENDING, counts_keep_s=KEEP_S):
        self.redis_url = redis_url
        self.stream = stream
        self.maxlen = maxlen
        self.timeout_ms = timeout_ms
        self.counts_keep_s = counts_keep_s
        self.max_pending = max_pending
        self._start_lock = threading.Lock()
        self._started = False
        # A forked child (a Dramatiq worker process) has no writer thread: start its own.
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: this() is not None and this()._forget_thread())

    def _forget_thread(self):
        self._start_lock = threading.Lock()
        self._started = False

    def write(self, payload, counts=None):
        """Queue one encoded event, and ``counts`` to add with it (``(hash key, (field, ...))``:
        each field of that hash goes up by one, see imagepipe.activity); never blocks on Redis,
        never raises.

        Called for every event of every job, from every worker thread: it only appends to a
        deque (atomic in CPython) and wakes the writer when that is idle, with no lock taken.
        """
        if not self._started:
            self._start()
        if len(self._pending) >= self.max_pending:
            with self._lock:
                self._lose(1, f"more than {self.max_pending} events waiting")
            return
        self._pending.append((payload, counts))
        if self._idle:
            self._wake.set()

    def flush(self, timeout_s=DEFAULT_FLUSH_TIMEOUT_S):
        """Wait until every event written so far was sent or dropped; False after ``timeout_s``."""
        if not self._started:
            return True  # nothing written in this process
        deadline = time.monotonic() + timeout_s
        while self._pending or self._sending:
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(FLUSH_POLL_S)
        return True

    @property
    def failing(self):
        """Whether the last batch was dropped: Redis is slow or away."""
        return self._started and self._failing

    def log_totals(self):
        """Log at INFO what this process stored and dropped, and how long its round trips took.

        For a worker's shutdown: one line that shows whether events were lost, and how the
        round trips (on average, and the slowest) compare with ``timeout_ms``.
        """
        if not self._started:
            return
        with self._lock:
            totals = dict(self._totals)
        logger.info(
            "Events to %s: %d stored, %d dropped; round trips: %d, %.1f ms on average, the slowest %.1f ms.",
            self.stream,
            totals["stored"],
            totals["dropped"],
            totals["round_trips"],
            totals["sending_s"] * 1000 / max(totals["round_trips"], 1),
            totals["slowest_s"] * 1000,
        )

    def _start(self):
        with self._start_lock:
            if self._started:
                return
            self._pending = collections.deque()
            self._wake = threading.Event()
            self._lock = threading.Lock()
            self._idle = False
            self._sending = False
            self._lost = 0
            self._failing = False
            self._totals = {"stored": 0, "dropped": 0, "round_trips": 0, "sending_s": 0.0, "slowest_s": 0.0}
            threading.Thread(target=self._run, name="imagepipe-events", daemon=True).start()
            atexit.register(self.flush)
            self._started = True

    def _run(self):
        client = bounded_client(self.redis_url, self.timeout_ms)
        append = client.register_script(APPEND_SCRIPT)
        while True:
            if not self._pending:
                self._idle = True
                if not self._pending:  # checked again: a write may have come before _idle was set
                    self._wake.wait()
                self._wake.clear()
                self._idle = False
                continue  # woken by flush or a write: look again
            # Let a batch gather: one round trip for many events instead of one for a few
            # costs the job threads less (fewer wake-ups of this thread, fewer syscalls).
            time.sleep(LINGER_S)
            self._sending = True
            batch = [self._pending.popleft() for _ in range(min(BATCH_SIZE, len(self._pending)))]
            started = time.monotonic()
            error = self._send(append, client, batch)
            elapsed = time.monotonic() - started
            with self._lock:
                self._totals["round_trips"] += 1
                self._totals["sending_s"] += elapsed
                self._totals["slowest_s"] = max(self._totals["slowest_s"], elapsed)
                if error is not None:
                    self._lose(len(batch), error)
                else:
                    self._totals["stored"] += len(batch)
                    if self._failing:
                        logger.info("Publishing events to %s again; %d were lost.", self.stream, self._lost)
                        self._failing, self._lost = False, 0
            self._sending = False

    def _send(self, append, client, batch):
        """None when the batch is stored, else the error."""
        payloads = [payload for payload, _ in batch]
        hashes, increments = _merged_counts(counts for _, counts in batch if counts)
        args = [self.maxlen, EVENT_FIELD, len(payloads), *payloads, self.counts_keep_s, *increments]
        try:
            append(keys=[self.stream, *hashes], args=args, client=client)
        except Exception as error:  # the thread must outlive any error: it is every job's observer
            return error
        return None

    def _lose(self, count, reason):
        """Count dropped events (``_lock`` held); warn at the first of a run of losses."""
        self._lost += count
        self._totals["dropped"] += count
        if not self._failing:
            self._failing = True
            logger.warning(
                "Cannot publish events to %s (%s); jobs go on, events are dropped until it works again.",
                self.stream,
                reason,
            )


def _merged_counts(counts):
    """The hash keys, and ``(key index, field, increment)`` triples flattened, of a batch's
    counts: one HINCRBY a field, however many events of the batch add to it."""
    merged = collections.Counter((key, field) for key, fields in counts for field in fields)
    hashes = list(dict.fromkeys(key for key, _ in merged))
    index = {key: position for position, key in enumerate(hashes, start=2)}
    return hashes, [item for (key, field), n in merged.items() for item in (index[key], field, n)]
