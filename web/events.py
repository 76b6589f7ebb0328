"""``/events`` and ``/images/{id}/events``: the events stream as Server-Sent Events.

Each SSE message is one stream entry: ``id:`` its stream id, ``event:`` its type, ``data:``
the stored JSON as is. A client that reconnects sends the last id it saw (``Last-Event-ID``,
or ``?last_event_id=`` for a first connection) and gets exactly the entries after it.

Reads go through ``imagepipe.event_stream.read_events`` (blocking redis-py) in a worker
thread, one bounded XREAD (``POLL_BLOCK_MS``) at a time. Between reads the response checks
whether the client is gone, and sends a keep-alive comment when it has been quiet for
``KEEPALIVE_INTERVAL_S``; so a closed tab ends the server's read within one block. Each
stream holds a lease of its client's ``web_max_streams_per_client`` (web/limits.py), renewed
every keep-alive interval and released when the response ends, however it ends. Threads
rather than redis.asyncio because the stream's reading and decoding rules live in one
synchronous function shared with the CLI; the reads get their own CapacityLimiter so that
many open streams never starve the pool that serves uploads and database queries.
"""

import re
import time

import anyio
from starlette.responses import StreamingResponse
from starlette.routing import Route

from imagepipe.event_stream import FROM_START, encode, newest_id, read_events

from . import limits
from .responses import ApiError

#: The longest one XREAD waits; also how soon a disconnect or keep-alive is noticed.
POLL_BLOCK_MS = 1_000
#: A comment line is sent when nothing was sent for this long, so proxies keep the connection.
KEEPALIVE_INTERVAL_S = 15.0
#: Open SSE streams that may be blocked in XREAD at once (each holds a thread and a connection).
MAX_CONCURRENT_READS = 200
#: How long a browser waits before reconnecting (the SSE ``retry:`` field), in ms.
RECONNECT_MS = 2_000
#: A stream's lease lives this many keep-alive intervals past its last renewal (one per
#: interval): the leases of a killed web process lapse within a minute.
LEASE_INTERVALS = 4
_STREAM_ID = re.compile(r"^\d+(-\d+)?$")


async def all_events(request):
    return await _event_response(request, image_id=None)


async def image_events(request):
    return await _event_response(request, image_id=request.path_params["image_id"])


async def _event_response(request, image_id):
    last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or None
    if last_id is not None and not _STREAM_ID.match(last_id):
        raise ApiError(400, f"Last-Event-ID must be a stream id like 1700000000000-0, not {last_id!r}")
    lease = await limits.take_stream_lease(request, ttl_s=LEASE_INTERVALS * KEEPALIVE_INTERVAL_S)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return _LeasedStream(
        _sse(request, image_id, last_id, lease), lease, media_type="text/event-stream", headers=headers
    )


class _LeasedStream(StreamingResponse):
    """A stream that releases its lease when the response ends: done, failed or cancelled
    (a generator never started would not run its own ``finally``)."""

    def __init__(self, content, lease, **kwargs):
        super().__init__(content, **kwargs)
        self.lease = lease

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.lease.release()


async def _sse(request, image_id, last_id, lease):
    state = request.app.state
    client, stream = state.redis, state.settings.events_stream
    if last_id is None:
        # An image's stream starts at the image's first event still kept, so a page that
        # connects after uploading misses nothing; the global stream starts from now.
        last_id = FROM_START if image_id is not None else await _in_thread(state, newest_id, client, stream)
    wanted = None if image_id is None else str(image_id)
    yield f"retry: {RECONNECT_MS}\n: connected\n\n"
    quiet_since = renewed = time.monotonic()
    while not await request.is_disconnected():
        if time.monotonic() - renewed >= KEEPALIVE_INTERVAL_S:
            if not await lease.renew():
                return  # lapsed and taken by the client's other streams: it reconnects (retry:)
            renewed = time.monotonic()
        batch = await _in_thread(state, _next_batch, client, stream, last_id)
        chunks = []
        for entry_id, event in batch:
            last_id = entry_id
            if wanted is None or str(event.get("image_id")) == wanted:
                chunks.append(_message(entry_id, event))
        if chunks:
            yield "".join(chunks)
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_INTERVAL_S:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()


def _next_batch(client, stream, last_id):
    """The entries after ``last_id`` from the first XREAD that returns any, or none within
    one block. read_events checks ``stop`` only between reads, so a batch is never cut."""
    batch = []
    events = read_events(
        client, stream=stream, last_id=last_id, block_ms=POLL_BLOCK_MS, timeout_s=POLL_BLOCK_MS / 1000,
        stop=lambda: bool(batch),
    )  # fmt: skip
    for item in events:
        batch.append(item)
    return batch


def _message(entry_id, event):
    return f"id: {entry_id}\nevent: {event.get('type', 'message')}\ndata: {encode(event)}\n\n"


async def _in_thread(state, function, *args):
    return await anyio.to_thread.run_sync(function, *args, limiter=state.event_readers)


def event_limiter():
    return anyio.CapacityLimiter(MAX_CONCURRENT_READS)


routes = [
    Route("/events", all_events, methods=["GET"]),
    Route("/images/{image_id:int}/events", image_events, methods=["GET"]),
]
