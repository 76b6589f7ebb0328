"""Lifecycle events of every job, to a capped Redis Stream and to the log."""

import functools
import json
import logging
import threading
import time
from dataclasses import dataclass

import dramatiq
from dramatiq.common import q_name

from imagepipe.activity import job_counts
from imagepipe.durable_events import DurableEvents
from imagepipe.errors import JobStopped
from imagepipe.event_stream import encode, logfmt, new_event
from imagepipe.event_writer import DEFAULT_FLUSH_TIMEOUT_S, StreamWriter
from imagepipe.progress import ProgressReporter, set_reporter
from imagepipe.settings import (
    DEFAULT_EVENTS_MAXLEN,
    DEFAULT_EVENTS_STREAM,
    DEFAULT_EVENTS_TIMEOUT_MS,
    DEFAULT_PROGRESS_INTERVAL_MS,
)

from .retries import PipelineRetries
from .runner import in_runner_process
from .shutdown import JobInterrupted

logger = logging.getLogger(__name__)


@dataclass
class _Attempt:
    """What the publisher remembers about the message a worker thread is running."""

    message_id: str
    number: int | None
    started: float | None  # time.monotonic()
    retry_delay_ms: int | None = None

    def duration_ms(self):
        return None if self.started is None else round((time.monotonic() - self.started) * 1000)


class EventPublisher(dramatiq.Middleware):
    """Publishes ``job-*`` events (README, "Events") to a capped Redis Stream and logs each one.

    Each attempt of a pipeline step that ends also counts in the last hour's activity
    (imagepipe.activity), sent with its event.

    Observers never break a job: ``publish`` logs the event and queues it for a background
    writer (``imagepipe.event_writer``), so it neither raises nor waits for Redis; the writer's
    round trips are bounded by ``timeout_ms``, and when Redis is away events are dropped with
    one warning. Nothing connects before the first event of a process.

    Place it after StepTracking (its ``before_process_message`` then runs once the step is known
    to start) and before Retries: ``after_*`` hooks run in reverse order, so when this one runs
    ``message.failed`` is final and a retry, if any, has been enqueued with its delay.

    Parameters:
      redis_url(str): the Redis that holds the stream.
      stream(str): the stream's key; default ``imagepipe:events``.
      maxlen(int): about how many events the stream keeps (approximate trimming); default 10000.
      timeout_ms(int): the longest one write to Redis may take, in ms; default 100.
      progress_interval_ms(int): the shortest time between two progress events of a job that
        are not milestones, in ms; default 500.
    """

    def __init__(
        self,
        *,
        redis_url,
        stream=DEFAULT_EVENTS_STREAM,
        maxlen=DEFAULT_EVENTS_MAXLEN,
        timeout_ms=DEFAULT_EVENTS_TIMEOUT_MS,
        progress_interval_ms=DEFAULT_PROGRESS_INTERVAL_MS,
    ):
        self.writer = StreamWriter(redis_url=redis_url, stream=stream, maxlen=maxlen, timeout_ms=timeout_ms)
        self.durable = DurableEvents(redis_url=redis_url, stream=stream, maxlen=maxlen, timeout_ms=timeout_ms)
        self.progress_interval_ms = progress_interval_ms
        self._step_actors = set()
        self._running = threading.local()

    def publish(self, event_type, message=None, **fields):
        """Publish one event about ``message`` (a Message or MessageProxy) with extra ``fields``.

        ``image_id`` is the message's first argument when its actor has a ``step``; pass it in
        ``fields`` otherwise. Never raises, never waits for Redis.
        """
        try:
            event = self._event(event_type, message, fields)
            _log(event)
            self.writer.write(encode(event), job_counts(event, self.writer.stream))
        except Exception:  # an observer must never fail the job it reports on
            logger.exception("Could not publish a %s event.", event_type)

    def terminal(self, event_type, message, **fields):
        """The encoded ``image-completed`` or ``image-failed``, for the outbox (models.outbox):
        the transaction that moves the image keeps it, and ``announce`` publishes it."""
        return encode(self._event(event_type, message, fields))

    def announce(self, event):
        """Log and publish a terminal event kept in the outbox, ``(id, payload)``, and forget its
        row; a row left (Redis away, the process killed) is published by a drain."""
        try:
            _log(json.loads(event[1]))
            if not self.writer.failing:
                self.flush()  # the job's own events first, as a follower expects them
            self.durable.publish(event)
        except Exception:  # an observer must never fail the job it reports on
            logger.exception("Could not publish a terminal event; it waits in the database.")

    def flush(self, timeout_s=DEFAULT_FLUSH_TIMEOUT_S):
        """Wait until the events published so far are stored (or dropped); False on timeout."""
        return self.writer.flush(timeout_s)

    def throttled(self, message, delay_ms):
        """``RateLimits(on_throttle=...)``: a message was put back for ``delay_ms``."""
        self.publish("job-throttled", message, delay_ms=delay_ms)

    def after_declare_actor(self, broker, actor):
        if actor.options.get("step"):
            self._step_actors.add(actor.actor_name)

    def after_enqueue(self, broker, message, delay):
        if delay is None:
            # Also when a delayed message (a retry, a throttled one) becomes due: it is then
            # moved to its queue without a delay, which is exactly "queued" again.
            self.publish("job-queued", message)
            return
        attempt = getattr(self._running, "attempt", None)
        if attempt is not None and attempt.message_id == message.message_id:
            attempt.retry_delay_ms = delay  # Retries put the running message back: a retry

    def before_process_message(self, broker, message):
        attempt = _Attempt(message.message_id, message.options.get("retries", 0) + 1, time.monotonic())
        self._running.attempt = attempt
        publish = functools.partial(self.publish, "job-progress", message)
        set_reporter(ProgressReporter(publish, self.progress_interval_ms))
        self.publish("job-active", message, attempt=attempt.number)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        attempt = self._end(message)
        if isinstance(exception, (JobInterrupted, JobStopped)):
            # Not a failure: ShutdownTimeouts requeues it and publishes job-interrupted,
            # RateLimits puts it back until its API's Retry-After and publishes job-throttled,
            # or its image was cancelled, which published image-cancelled.
            return
        if exception is None:
            self.publish("job-completed", message, attempt=attempt.number, duration_ms=attempt.duration_ms())
            return
        max_attempts = _max_attempts(broker, message)
        self.publish(
            "job-failed",
            message,
            error=str(exception),
            error_type=type(exception).__name__,
            attempt=attempt.number,
            max_attempts=max_attempts,
            final=message.failed,
            duration_ms=attempt.duration_ms(),
        )
        if not message.failed and attempt.retry_delay_ms is not None:
            next_attempt = None if attempt.number is None else attempt.number + 1
            self.publish(
                "job-retrying",
                message,
                delay_ms=attempt.retry_delay_ms,
                next_attempt=next_attempt,
                max_attempts=max_attempts,
            )

    def after_skip_message(self, broker, message):
        self._end(message)

    def after_worker_boot(self, broker, worker):
        if in_runner_process():  # an embedded Worker's host program has its own life
            self.durable.start_draining()

    def after_worker_shutdown(self, broker, worker):
        # Worker processes end with os._exit (multiprocessing), which skips the writer's atexit.
        self.flush()
        self.writer.log_totals()

    def _end(self, message):
        """Forget the running message; its attempt (unknown if our before hook did not run)."""
        set_reporter(None)
        attempt = getattr(self._running, "attempt", None)
        self._running.attempt = None
        if attempt is None or attempt.message_id != message.message_id:
            return _Attempt(message.message_id, None, None)
        return attempt

    def _event(self, event_type, message, fields):
        event = new_event(event_type)
        if message is not None:
            event.update(job_id=message.message_id, actor=message.actor_name, queue=q_name(message.queue_name))
            if message.actor_name in self._step_actors and message.args:
                event["image_id"] = message.args[0]
        event.update(fields)
        return event


#: The routine events of every message, logged at DEBUG (``dramatiq -v`` shows them): at INFO
#: their lines, sent through Dramatiq's log pipe to its main process, cost a no-op job a third
#: of its throughput (bench/noop.py). Everything else is logged at INFO: failures, retries,
#: throttling, interruptions, dead letters, and each image's completion or failure.
DEBUG_EVENTS = frozenset({"job-queued", "job-active", "job-progress", "job-completed"})


def _log(event):
    """One ``event=job-completed job_id=... attempt=... duration_ms=...`` line."""
    level = logging.DEBUG if event["type"] in DEBUG_EVENTS else logging.INFO
    if logger.isEnabledFor(level):
        fields = {key: value for key, value in event.items() if key not in ("type", "ts")}
        logger.log(level, "%s", logfmt({"event": event["type"], **fields}))


def _max_attempts(broker, message):
    """Attempts a message may have: its max_retries (as PipelineRetries resolves it) plus one."""
    retries = next((m for m in broker.middleware if isinstance(m, PipelineRetries)), None)
    if retries is None:
        return 1
    max_retries = retries.max_retries_for(broker.get_actor(message.actor_name), message)
    return None if max_retries is None else max_retries + 1
