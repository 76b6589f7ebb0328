"""Retries on an exact doubling schedule, and none for errors that no retry can fix."""

import time
import traceback

import redis
from dramatiq import Retry
from dramatiq.errors import BrokerError
from dramatiq.middleware import Retries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF

from imagepipe.errors import JobStopped
from imagepipe.settings import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF_MS

from .shutdown import JobInterrupted

#: How long a retry waits for an unreachable broker before it is left to the sweeper.
OUTAGE_PATIENCE_S = 30
OUTAGE_POLL_S = 0.5


def enqueue_patiently(broker, message, delay, logger):
    """Enqueue ``message``, waiting out a broker outage of up to OUTAGE_PATIENCE_S.

    A retry whose enqueue fails is lost for good (Dramatiq swallows the error of an after-hook
    and the message is then acked). The failure is likely the broker going away: then nothing
    else can run either, so the thread waits for it to come back. Past the patience the step
    is left to the sweeper (``imagepipe sweep``).
    """
    deadline = time.monotonic() + OUTAGE_PATIENCE_S
    while True:
        try:
            return broker.enqueue(message, delay=delay)
        except (BrokerError, redis.RedisError) as error:
            if time.monotonic() > deadline:
                raise
            logger.warning("Broker unavailable (%s); retrying the enqueue of %s.", error, message.message_id)
            time.sleep(OUTAGE_POLL_S)


def exact_backoff(retries, *, first_ms, max_ms=DEFAULT_MAX_BACKOFF):
    """The delay before the retry after ``retries`` earlier ones: first_ms, then doubling, capped."""
    return min(first_ms * 2**retries, max_ms)


class PipelineRetries(Retries):
    """Dramatiq's Retries with two changes that the pipeline relies on.

    * Backoff is exactly ``backoff * 2**retries`` (2 s, 4 s, 8 s by default). Dramatiq's own
      adds up to 100 % jitter, which makes the schedule untestable and longer than promised.
    * An exception whose class says ``permanent = True`` (corrupt file, unsupported format,
      pixel limit...) fails the message at once instead of spending retries on it.

    Everything else keeps Dramatiq's meaning: the ``max_retries``, ``min_backoff`` (the first
    delay here), ``max_backoff``, ``throws``, ``retry_when`` and ``on_retry_exhausted`` options,
    a raised ``Retry(delay=...)``, and the ``retries`` and ``traceback`` message options (which
    a failed message keeps, permanent errors included, for the dead-letter store).

    Parameters:
      max_retries(int): retries after the first attempt (default 3, so 4 attempts at most).
      backoff(int): the first retry's delay in milliseconds (default 2000).
    """

    def __init__(self, *, max_retries=DEFAULT_MAX_RETRIES, backoff=DEFAULT_RETRY_BACKOFF_MS):
        super().__init__(max_retries=max_retries, min_backoff=backoff)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or isinstance(exception, (JobInterrupted, JobStopped)):
            return  # requeued uncounted by ShutdownTimeouts or RateLimits, or its image was cancelled
        actor = broker.get_actor(message.actor_name)
        retries = message.options.get("retries", 0)
        message.options["traceback"] = traceback.format_exc(limit=30)
        if self._thrown(actor, message, exception):
            self.logger.info("Aborting message %r.", message.message_id)  # Dramatiq's own words
            message.fail()
            return
        if getattr(exception, "permanent", False):
            self.logger.info("Not retrying message %r: %s", message.message_id, exception)
            message.fail()
            return
        message.options["retries"] = retries + 1
        message.options["requeue_timestamp"] = int(time.time() * 1000)
        if not self._should_retry(actor, message, retries, exception):
            self.logger.warning("Retries exceeded for message %r.", message.message_id)
            message.fail()
            self._notify_exhausted(broker, actor, message, retries)
            return
        delay = self.delay_for(actor, message, retries, exception)
        self.logger.info("Retrying message %r in %d milliseconds.", message.message_id, delay)
        enqueue_patiently(broker, message, delay, self.logger)

    def delay_for(self, actor, message, retries, exception=None):
        """The delay before the next attempt of a message that has been retried ``retries`` times."""
        if isinstance(exception, Retry) and exception.delay is not None:
            return exception.delay
        first = self._option(actor, message, "min_backoff", self.min_backoff)
        cap = min(self._option(actor, message, "max_backoff", self.max_backoff), DEFAULT_MAX_BACKOFF)
        return exact_backoff(retries, first_ms=first, max_ms=cap)

    def max_retries_for(self, actor, message):
        return self._option(actor, message, "max_retries", self.max_retries)

    def _should_retry(self, actor, message, retries, exception):
        retry_when = actor.options.get("retry_when", self.retry_when)
        if retry_when is not None:
            return retry_when(retries, exception)
        max_retries = self.max_retries_for(actor, message)
        return max_retries is None or retries < max_retries

    @staticmethod
    def _thrown(actor, message, exception):
        throws = message.options.get("throws") or actor.options.get("throws")
        return bool(throws) and isinstance(exception, throws)

    @staticmethod
    def _option(actor, message, name, default):
        return message.options.get(name, actor.options.get(name, default))

    def _notify_exhausted(self, broker, actor, message, retries):
        target = message.options.get("on_retry_exhausted") or actor.options.get("on_retry_exhausted")
        if target:
            # The limit that applied, as Dramatiq reports it: the middleware's when the actor set none.
            max_retries = self.max_retries_for(actor, message)
            broker.get_actor(target).send(message.asdict(), {"retries": retries, "max_retries": max_retries})
