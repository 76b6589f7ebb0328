"""Publishing the terminal events that the database holds (models.outbox), each exactly once.

The process that moves an image publishes its event right after the commit. The rows that a
process left behind (killed before it published, or Redis away then) are published by a
drain that each `dramatiq` worker process runs every ``DRAIN_INTERVAL_S``. A marker for each
event (``publish_once.lua``) makes the publisher and any number of drainers append it once,
and count its image once in the activity of its minute (imagepipe.activity).
"""

import logging
import os
import threading
import time
from pathlib import Path

import redis

from imagepipe.activity import BUCKET_S, KEEP_S
from imagepipe.event_stream import EVENT_FIELD
from imagepipe.event_writer import bounded_client
from models import database, forget_events, pending_events

logger = logging.getLogger(__name__)

PUBLISH_SCRIPT = (Path(__file__).parent / "publish_once.lua").read_text()
#: How often each worker process publishes the rows that others left.
DRAIN_INTERVAL_S = 2.0
#: A row this young may still be published by the process that wrote it: the drain waits.
DRAIN_AFTER_S = 2.0
#: How long the stream remembers that it has an event: far longer than a row waits while any
#: worker process runs (a drain every DRAIN_INTERVAL_S). Only a fleet down for longer, after a
#: crash between the append and the row's delete, could append that event once more: a
#: duplicate, never a loss. A day's markers would hold Redis memory at a day of traffic.
MARKER_TTL_S = 600
#: After a failed publish, how long a job thread leaves its events to the drain instead of
#: waiting for Redis again (a timeout each time would cost every image that much).
QUIET_AFTER_FAILURE_S = 5.0


class DurableEvents:
    """Appends outbox rows to the events stream and deletes them; one Redis client a process.

    Round trips are bounded by ``timeout_ms``, one try, like the stream writer's
    (``bounded_client``), but these wait for the reply: a row is deleted only once the stream
    has its event.
    """

    def __init__(self, *, redis_url, stream, maxlen, timeout_ms):
        self.redis_url = redis_url
        self.stream = stream
        self.maxlen = maxlen
        self.timeout_ms = timeout_ms
        self._clients = {}  # by process id: a connection must not cross a fork
        self._quiet_until = 0.0  # time.monotonic() before which publish leaves events to the drain

    def publish(self, event):
        """``deliver`` one event from a job's thread, unless Redis failed in the last
        QUIET_AFTER_FAILURE_S: then its row waits for the drain without costing the job a
        timeout. True when it was published."""
        if time.monotonic() < self._quiet_until:
            return False
        delivered = self.deliver([event])
        if not delivered:
            self._quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_S
        return delivered

    def deliver(self, events):
        """Publish ``events`` (outbox ``(id, payload)`` pairs) and forget their rows; False when
        Redis did not take them (they stay for a drain)."""
        if not events:
            return True
        client = self._client()
        payloads = [payload for _, payload in events]
        try:
            args = (self.maxlen, EVENT_FIELD, MARKER_TTL_S, BUCKET_S, KEEP_S, *payloads)
            client.eval(PUBLISH_SCRIPT, 1, self.stream, *args)
        except redis.RedisError as error:
            logger.warning(
                "Could not publish %d terminal event(s) (%s); they wait in the database.", len(events), error
            )
            return False
        forget_events([event_id for event_id, _ in events])
        return True

    def drain(self):
        """Publish what other processes left; how many events were published."""
        events = pending_events(older_than_s=DRAIN_AFTER_S)
        return len(events) if self.deliver(events) else 0

    def start_draining(self):
        """Drain every DRAIN_INTERVAL_S from a daemon thread of this process."""
        threading.Thread(target=self._drain_forever, name="imagepipe-outbox", daemon=True).start()

    def _drain_forever(self):
        while True:
            time.sleep(DRAIN_INTERVAL_S)
            try:
                with database.connection_context():
                    drained = self.drain()
                if drained:
                    logger.info("Published %d terminal event(s) another process had left.", drained)
            except Exception:  # the thread must outlive a database or Redis outage
                logger.warning("Could not drain the terminal events.", exc_info=True)

    def _client(self):
        client = self._clients.get(os.getpid())
        if client is None:
            client = bounded_client(self.redis_url, self.timeout_ms)
            self._clients = {os.getpid(): client}
        return client
