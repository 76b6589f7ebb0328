"""A Redis-backed rate limiter that delays messages instead of failing them."""

import functools
import random
import re
import time
import uuid
from pathlib import Path

import dramatiq
import redis
from dramatiq.errors import BrokerError
from dramatiq.logging import get_logger
from dramatiq.middleware import MiddlewareError, SkipMessage

from imagepipe.errors import ImagePipeError, Throttled

from .requeue import copy_again, enqueue_again
from .retries import enqueue_patiently

SCRIPT = (Path(__file__).parent / "rate_limit.lua").read_text()
HOLD_SCRIPT = (Path(__file__).parent / "rate_hold.lua").read_text()
PERIODS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000}
KEY_PREFIX = "imagepipe:rate:"
#: Added to a limit's key for its hold: no slot before that time (an API's Retry-After).
HOLD_SUFFIX = ":hold"
#: The option a deferred message carries: its reserved start, in ms on the wall clock.
SLOT_OPTION = "rate_limit_slot"
#: Redis timeouts (seconds) for the limiter's one call per message.
REDIS_TIMEOUT_S = 1.0
DEFAULT_MAX_WAIT_MS = 500
DEFAULT_GUARD_MS = 50
DEFAULT_JITTER_MS = 50
#: While the limiter's Redis is unreachable: how long a message goes back to the delay queue
#: for, or, when the broker cannot take it either, how long its thread waits between tries (ms).
OUTAGE_RETRY_MS = 500
#: Consecutive slots are at least period / (limit * BURST_SPREAD) apart: a full window's burst
#: is spread over half the period instead of starting all at one instant.
BURST_SPREAD = 2


class InvalidRateLimit(ImagePipeError, MiddlewareError, ValueError):
    """A rate limit that is not of the form COUNT/PERIOD, e.g. 10/m, 20/s, 100/30s."""


@functools.lru_cache(maxsize=256)
def parse_rate(text):
    """``"10/m"`` -> (10, 60000); also ``"20/s"``, ``"500/h"``, ``"100/30s"``; ``"off"`` -> None."""
    if text is None or str(text).strip().lower() in ("", "off", "none"):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*", str(text).lower())
    if not match or int(match[1]) == 0:
        raise InvalidRateLimit(f"invalid rate limit {text!r}: use COUNT/PERIOD such as 10/m, 20/s or 100/30s")
    return int(match[1]), int(match[2] or 1) * PERIODS_MS[match[3]]


def now_ms():
    return time.time() * 1000


class RateLimits(dramatiq.Middleware):
    """Holds actors to ``rate_limit`` (e.g. ``"10/m"``) across every process and host on one Redis.

    Each message reserves a start slot in one atomic Redis call. A message whose slot is more
    than ``max_wait_ms`` away is neither failed nor retried: it is enqueued again (same message
    id, its slot in the options, plus up to ``jitter_ms``) to come back shortly before the slot,
    and skipped here. Within ``max_wait_ms`` of its slot a message waits in its thread, so it
    starts on time even though Dramatiq's delay queue is only polled every worker timeout.
    Slots are spaced by the period plus ``guard_ms``, which absorbs scheduling noise and clock
    skew between hosts; a message that would start more than that late reserves a new slot.
    Consecutive slots are also a little apart, so a burst spreads over half the period rather
    than waking every waiting thread at the same instant.

    Actors sharing a budget name the same ``rate_limit_key`` (default: the actor's name).
    ``overrides`` (actor name -> limit or ``"off"``, from settings) beat the message's
    ``rate_limit`` option, which beats the actor's.

    The API behind a limit may still say "too many requests" (its own budget is shared with
    others, or smaller than ours). An actor then raises imagepipe.errors.Throttled with the
    API's Retry-After: the message goes back for that long, with no retry spent (Retries and
    StepTracking leave it alone), and the budget is held until then, so that no other worker
    calls the API meanwhile: every slot reserved under that key starts after the hold.

    When the limiter's Redis cannot be reached a limited message does not run (fail closed: a
    limit is a promise to someone else's API, and a Redis restart must not break it). It goes
    back to the delay queue for ``OUTAGE_RETRY_MS``, freeing its thread for unlimited work; when
    the broker cannot take it either (one Redis for both, the usual set-up), it waits in its
    thread and tries again. The same holds for a deferral the broker refuses: the message
    already owns its slot, so it waits for it in its thread. A warning is logged either way.
    The slots live in Redis: a Redis that loses its data on restart (no AOF) forgets the
    slots of the last period, so the window around the restart may see up to twice the limit.

    Parameters:
      redis_url(str): the Redis that holds the limits.
      overrides(dict): per-actor limits from settings; default none.
      max_wait_ms(int): the longest a message waits in its thread for its slot; default 500.
      guard_ms(int): added to each period between slots, and the most a start may be late; default 50.
      jitter_ms(int): the largest random delay added when deferring; default 50.
      on_throttle(callable): called with (message, delay_ms) for each deferral; default none.
    """

    actor_options = {"rate_limit", "rate_limit_key"}

    def __init__(
        self,
        *,
        redis_url,
        overrides=None,
        max_wait_ms=DEFAULT_MAX_WAIT_MS,
        guard_ms=DEFAULT_GUARD_MS,
        jitter_ms=DEFAULT_JITTER_MS,
        on_throttle=None,
    ):
        self.logger = get_logger(__name__, type(self))
        self.redis_url = redis_url
        self.overrides = {name: parse_rate(rate) for name, rate in (overrides or {}).items()}
        self.max_wait_ms = max_wait_ms
        self.guard_ms = guard_ms
        self.jitter_ms = min(jitter_ms, max_wait_ms // 2)
        self.on_throttle = on_throttle
        self._registered = None

    def after_worker_shutdown(self, broker, worker):
        if self._registered is not None:
            self._registered[0].registered_client.close()
            self._registered = None

    def before_declare_actor(self, broker, actor):
        parse_rate(actor.options.get("rate_limit"))  # a typo fails at import, not at 3 a.m.

    def limit_for(self, actor, message=None):
        """(count, period_ms) for ``actor`` (and ``message``), or None when it is not limited."""
        if actor.actor_name in self.overrides:
            return self.overrides[actor.actor_name]
        if message is not None and "rate_limit" in message.options:
            return parse_rate(message.options["rate_limit"])
        return parse_rate(actor.options.get("rate_limit"))

    @staticmethod
    def key_for(actor):
        return KEY_PREFIX + actor.options.get("rate_limit_key", actor.actor_name)

    def before_process_message(self, broker, message):
        actor = broker.get_actor(message.actor_name)
        limit = self.limit_for(actor, message)
        if limit is None:
            return
        key = self.key_for(actor)
        slot = message.options.get(SLOT_OPTION)
        while True:
            if slot is None or now_ms() - slot > self.guard_ms:
                # No slot yet, or too late for it (a slow delivery, a thread that woke late):
                # starting now could crowd a window, so take the next free slot instead.
                slot = self._reserve_or_hold(broker, message, key, limit)
            remaining = slot - now_ms()
            if remaining > self.max_wait_ms and self._deferred(broker, message, slot, remaining):
                raise SkipMessage()
            if remaining <= 0:
                return
            time.sleep(remaining / 1000)
            if self._held(key):
                slot = None  # the API said "wait" while this thread waited: a slot after the hold

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if not isinstance(exception, Throttled):
            return
        key = KEY_PREFIX + exception.key if exception.key else self.key_for(broker.get_actor(message.actor_name))
        delay_ms = max(1, int(exception.delay_ms))
        try:
            self._scripts()[1](keys=[key + HOLD_SUFFIX], args=[delay_ms])
        except redis.RedisError as error:
            self.logger.warning("Could not hold %s for %d ms: %s", key, delay_ms, error)
        self.logger.info("%s of %s throttled by its API for %d ms.", message.message_id, message.actor_name, delay_ms)
        # A new slot after the hold, with no retry spent; waits out a broker outage, as the
        # message is acked once this returns.
        enqueue_patiently(broker, copy_again(message, **{SLOT_OPTION: None}), delay_ms, self.logger)
        if self.on_throttle:
            self.on_throttle(message, delay_ms)

    def _reserve_or_hold(self, broker, message, key, limit):
        """A slot for ``message``; while the limiter's Redis is down the message never runs."""
        while True:
            try:
                return self._reserve(key, limit, f"{message.message_id}:{uuid.uuid4().hex[:8]}")
            except redis.RedisError as error:
                self.logger.warning("Rate limiter unavailable, holding %s back: %s", message.message_id, error)
            if self._sent_again(broker, message, OUTAGE_RETRY_MS):
                raise SkipMessage()
            time.sleep(OUTAGE_RETRY_MS / 1000)

    def _deferred(self, broker, message, slot, remaining):
        """Enqueue the message again to arrive inside its waiting window before ``slot``;
        False when the broker refused it, and the message must wait for its slot here."""
        delay_ms = int(remaining - self.max_wait_ms + self.jitter_ms + random.randint(0, self.jitter_ms))
        if not self._sent_again(broker, message, delay_ms, **{SLOT_OPTION: slot}):
            return False
        self.logger.debug("Throttled %s of %s for %d ms.", message.message_id, message.actor_name, remaining)
        if self.on_throttle:
            self.on_throttle(message, int(remaining))
        return True

    def _sent_again(self, broker, message, delay_ms, **options):
        try:
            enqueue_again(broker, message, delay=delay_ms, **options)
            return True
        except (BrokerError, redis.RedisError) as error:
            self.logger.warning("Broker unavailable, %s waits in its thread: %s", message.message_id, error)
            return False

    def _held(self, key):
        """Whether the API behind ``key`` asked every caller to wait (an unreachable Redis: no)."""
        try:
            return bool(self._scripts()[0].registered_client.exists(key + HOLD_SUFFIX))
        except redis.RedisError:
            return False

    def _scripts(self):
        """The reservation and hold scripts, on this process's client (made on first use)."""
        if self._registered is None:
            client = redis.Redis.from_url(
                self.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
            )
            self._registered = (client.register_script(SCRIPT), client.register_script(HOLD_SCRIPT))
        return self._registered

    def _reserve(self, key, limit, member):
        count, period_ms = limit
        window_ms = period_ms + self.guard_ms
        gap_ms = window_ms // (count * BURST_SPREAD)
        return int(self._scripts()[0](keys=[key, key + HOLD_SUFFIX], args=[count, window_ms, member, gap_ms]))
