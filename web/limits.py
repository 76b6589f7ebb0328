"""Abuse limits of the web app: uploads per client, failed authentications per address,
concurrent SSE streams per client, and every request body's size and deadline.

Window limits (uploads, failed authentications) reserve a slot with the workers' own limiter,
middleware/rate_limit.lua ("at most COUNT in any PERIOD"), with no gap between slots. A slot
later than Redis's now means the window is full: the reservation is taken back (a refused
request spends no budget) and the answer is 429 with ``Retry-After``, the whole seconds until
the slot. Concurrent streams are leases in a sorted set per client (stream_leases.lua) that the
stream renews and releases; a killed process's leases lapse by themselves.

The limits live in the Redis of ``REDIS_URL`` (``settings.redis_url``: the workers' rate
limits and heartbeats), not the events Redis: the events Redis may be a separate, lossy
instance for a firehose of progress, and these counters are state the app relies on. They are
reached with redis.asyncio, connected on first use (none at import or start-up). When that
Redis cannot be reached the limits fail open: the request goes through, a warning is logged
at most every WARNING_INTERVAL_S, and Redis is not asked again for OUTAGE_PAUSE_S. These limits
protect this app, unlike the workers' (a promise to someone else's API, which fail closed): an
outage of the limiter must not take the API down with it.

A client is ``scope["imagepipe.client"]`` when authentication set it (``"token:<sha256
prefix>"`` today), else ``"address:<IP>"`` (client_of). Failed authentications always count
per address: a guesser has no identity but that.
"""

import logging
import math
import time
import uuid
from pathlib import Path

import anyio
import redis.asyncio

from middleware.rate_limit import HOLD_SCRIPT, HOLD_SUFFIX, parse_rate
from middleware.rate_limit import SCRIPT as WINDOW_SCRIPT

from .asgi import HttpMiddleware
from .responses import ApiError, error_response
from .uploads import LOCAL_FORM_PATH, MULTIPART_OVERHEAD_BYTES

logger = logging.getLogger(__name__)

LEASE_SCRIPT = (Path(__file__).parent / "stream_leases.lua").read_text()
KEY_PREFIX = "imagepipe:web:"
#: Redis timeouts (s) of one limiter call; a request waits at most this for its verdict.
REDIS_TIMEOUT_S = 0.5
#: Connections to the limits' Redis; a burst waits up to POOL_WAIT_S (s) for one of them
#: (redis-py's default pool raises past 100 at once, which would let a burst through unlimited).
POOL_CONNECTIONS = 20
POOL_WAIT_S = 2.0
#: After a failed call, the limits are not asked for this long (s): requests go straight through.
OUTAGE_PAUSE_S = 2.0
#: The least time (s) between two warnings that the limits are unavailable.
WARNING_INTERVAL_S = 60.0
#: Retry-After (s) of a refused stream: streams free up whenever the client closes one.
STREAM_RETRY_AFTER_S = 5
#: The routes whose multipart body is a file, with the upload limit; every other body gets the JSON one.
UPLOAD_ROUTES = frozenset({("POST", "/images"), ("POST", LOCAL_FORM_PATH)})


def client_of(scope):
    """Who makes the request: what authentication named (``scope["imagepipe.client"]``, e.g.
    ``"token:…"``, a token or a session opened with it), else ``"address:<client IP>"``."""
    return scope.get("imagepipe.client") or "address:" + address_of(scope)


def address_of(scope):
    peer = scope.get("client")
    return peer[0] if peer else "unknown"


class TooManyRequests(ApiError):
    """429 over an abuse limit; ``retry_after_s`` whole seconds before trying again may succeed."""

    def __init__(self, retry_after_s, message):
        super().__init__(429, message, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s

    def response(self):
        """The JSON response, for ASGI middleware (outside the app's exception handlers)."""
        response = error_response(429, self.detail)
        response.headers["Retry-After"] = str(self.retry_after_s)
        return response


def _seconds(ms):
    return max(1, math.ceil(ms / 1000))


class Limiter:
    """The app's abuse limits on one Redis: ``app.state.limits``, made by the app's lifespan.

    Parameters:
      settings(Settings): ``redis_url`` and the ``web_*`` limits; a rate of "off" turns its
        limit off. A malformed rate raises InvalidRateLimit here, when the app starts.
    """

    def __init__(self, settings):
        self.upload_rate = parse_rate(settings.web_upload_rate)
        self.auth_failure_rate = parse_rate(settings.web_auth_failure_rate)
        self.max_streams = settings.web_max_streams_per_client
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=POOL_CONNECTIONS,
            timeout=POOL_WAIT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        self.redis = redis.asyncio.Redis.from_pool(pool)
        self._window = self.redis.register_script(WINDOW_SCRIPT)
        self._hold = self.redis.register_script(HOLD_SCRIPT)
        self._lease = self.redis.register_script(LEASE_SCRIPT)
        self._paused_until = 0.0
        self._warned_at = -math.inf

    async def close(self):
        await self.redis.aclose()

    async def ask(self, call, *args):
        """``await call(*args)``, or None when the limits' Redis is unreachable (fail open)."""
        if time.monotonic() < self._paused_until:
            return None
        try:
            return await call(*args)
        except (redis.RedisError, OSError) as error:
            now = time.monotonic()
            self._paused_until = now + OUTAGE_PAUSE_S
            if now - self._warned_at >= WARNING_INTERVAL_S:
                self._warned_at = now
                logger.warning("Web abuse limits unavailable, requests go through unlimited: %s", error)
            return None

    async def wait_ms(self, key, rate):
        """Reserve a slot in ``key``'s window now; the ms until one is free when it is full
        (nothing reserved then), None when the request is within the limit (or unlimited)."""
        if rate is None:
            return None
        return await self.ask(self._reserve, key, rate)

    async def _reserve(self, key, rate):
        count, period_ms = rate
        member = uuid.uuid4().hex
        # TIME right after the script on the same connection: the slot is compared with
        # Redis's clock, not this host's (an accepted slot is the script's now).
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._window(keys=[key, key + HOLD_SUFFIX], args=[count, period_ms, member, 0], client=pipe)
            pipe.time()
            slot, (seconds, micros) = await pipe.execute()
        wait_ms = int(slot) - (int(seconds) * 1000 + int(micros) // 1000)
        if wait_ms <= 0:
            return None
        await self.redis.zrem(key, member)
        return wait_ms

    async def held_ms(self, key):
        """The ms left of ``key``'s hold (rate_hold.lua), 0 when it is not held."""
        left = await self.ask(self.redis.pttl, key + HOLD_SUFFIX)
        return left if left is not None and left > 0 else 0

    async def hold(self, key, delay_ms):
        await self.ask(self._hold, [key + HOLD_SUFFIX], [delay_ms])

    async def lease(self, key, lease_id, ttl_ms):
        """Take or renew a stream lease: False only when Redis refused it (the client holds
        the most); True when taken, renewed, or Redis unreachable."""
        taken = await self.ask(self._lease, [key], [self.max_streams, lease_id, ttl_ms])
        return taken is None or bool(taken)

    async def release(self, key, lease_id):
        await self.ask(self.redis.zrem, key, lease_id)


def _limiter(scope) -> Limiter:
    return scope["app"].state.limits


# -- Uploads per client ------------------------------------------------------------------


async def check_upload(request):
    """Count one upload (``POST /images``, ``POST /uploads``) against its client's budget,
    ``web_upload_rate``; TooManyRequests (429) when it is spent. Call before reading the body."""
    limiter = _limiter(request.scope)
    key = KEY_PREFIX + "uploads:" + client_of(request.scope)
    wait_ms = await limiter.wait_ms(key, limiter.upload_rate)
    if wait_ms is not None:
        count, period_ms = limiter.upload_rate
        raise TooManyRequests(
            _seconds(wait_ms), f"upload limit reached: {count} uploads per {period_ms // 1000} s; try again later"
        )


# -- Failed authentications per address --------------------------------------------------


def _auth_key(scope):
    return KEY_PREFIX + "auth-failures:" + address_of(scope)


def _auth_refusal(wait_ms):
    message = "too many failed authentications from this address; try again later"
    return TooManyRequests(_seconds(wait_ms), message).response()


async def auth_held(scope):
    """The 429 response while the request's address is held for failed authentications, else
    None. Call it before checking a presented credential: a held guesser learns nothing."""
    if _limiter(scope).auth_failure_rate is None:
        return None
    left_ms = await _limiter(scope).held_ms(_auth_key(scope))
    return _auth_refusal(left_ms) if left_ms else None


async def note_auth_failure(scope):
    """Count a failed authentication of the request's address (``web_auth_failure_rate``).
    The one over the limit holds the address until the window has room again and gets the
    429 response returned; None otherwise (answer 401)."""
    limiter, key = _limiter(scope), _auth_key(scope)
    wait_ms = await limiter.wait_ms(key, limiter.auth_failure_rate)
    if wait_ms is None:
        return None
    await limiter.hold(key, wait_ms)
    logger.warning("Authentication failures from %s over the limit; held for %d ms.", address_of(scope), wait_ms)
    return _auth_refusal(wait_ms)


# -- Concurrent streams per client -------------------------------------------------------


class StreamLease:
    """One open stream of a client, counted in Redis until released (or lapsed: ``ttl_s``
    after its last renewal)."""

    def __init__(self, limiter, key, ttl_s):
        self.limiter, self.key, self.id = limiter, key, uuid.uuid4().hex
        self.ttl_ms = int(ttl_s * 1000)

    async def renew(self):
        """False when the lease lapsed meanwhile and the client holds the most without it."""
        return await self.limiter.lease(self.key, self.id, self.ttl_ms)

    async def release(self):
        """Free the lease; safe to await during cancellation (shielded)."""
        with anyio.CancelScope(shield=True):
            await self.limiter.release(self.key, self.id)


async def take_stream_lease(request, ttl_s):
    """A lease on one of the client's ``web_max_streams_per_client`` streams, living ``ttl_s``
    unless renewed; TooManyRequests (429) when the client holds them all."""
    limiter = _limiter(request.scope)
    lease = StreamLease(limiter, KEY_PREFIX + "streams:" + client_of(request.scope), ttl_s)
    if not await lease.renew():
        raise TooManyRequests(
            STREAM_RETRY_AFTER_S,
            f"too many open event streams: at most {limiter.max_streams} per client; close one first",
        )
    return lease


# -- Request bodies ----------------------------------------------------------------------


def body_limit(scope, settings):
    """The most bytes the request's body may have: an upload's (plus multipart framing) for a
    multipart body of UPLOAD_ROUTES, ``web_max_json_bytes`` for every other body."""
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
    if (scope["method"], scope["path"]) in UPLOAD_ROUTES and content_type.startswith(b"multipart/form-data"):
        return settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    return settings.web_max_json_bytes


class BodyLimits(HttpMiddleware):
    """ASGI middleware: each request body within its route's size (body_limit) and within
    ``web_body_timeout_s`` of the request's start.

    A ``Content-Length`` over the limit gets 413 at once, the body unread. A body that streams
    past its limit (chunked, or a Content-Length that lies), or is not complete by the
    deadline, makes the app's next ``receive`` raise ApiError 413 or 408, answered as JSON
    like any other error, with ``Connection: close`` (the unread rest cannot be skipped).
    A body complete, ``receive`` is passed through untouched (disconnect detection).
    """

    async def http(self, scope, receive, send):
        settings = scope["app"].state.settings
        limit = body_limit(scope, settings)
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limit:
            message = f"the body is {int(declared):,} bytes, over this route's {limit:,} byte limit"
            response = error_response(413, message)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        body = _Body(receive, limit, anyio.current_time() + settings.web_body_timeout_s)

        async def send_closing(message):
            if message["type"] == "http.response.start" and body.cut:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, body.receive, send_closing)


class _Body:
    """The app's ``receive``: counts the body's bytes and keeps its deadline until it is complete."""

    def __init__(self, receive, limit, deadline):
        self._receive, self.limit, self.deadline = receive, limit, deadline
        self.received, self.complete, self.cut = 0, False, False

    async def receive(self):
        if self.complete:
            return await self._receive()
        with anyio.CancelScope(deadline=self.deadline) as deadline:
            message = await self._receive()
        if deadline.cancelled_caught:
            self.cut = True
            raise ApiError(408, "the request body did not arrive in time")
        if message["type"] != "http.request":
            self.complete = True  # disconnected
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            self.cut = True
            raise ApiError(413, f"the body is over this route's {self.limit:,} byte limit")
        self.complete = not message.get("more_body", False)
        return message
