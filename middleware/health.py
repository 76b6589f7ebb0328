"""Worker heartbeats in Redis, so `imagepipe health` can tell live workers from dead ones."""

import os
import socket
import threading
import time

import dramatiq
import redis
from dramatiq.logging import get_logger

from imagepipe.errors import JobStopped
from imagepipe.settings import DEFAULT_HEARTBEAT_INTERVAL_S

#: A sorted set of worker names scored by their last heartbeat (unix seconds).
WORKERS_KEY = "imagepipe:workers"
#: One hash per worker process with its counters.
WORKER_KEY_PREFIX = "imagepipe:worker:"
#: A heartbeat older than this many intervals marks the worker stale.
STALE_AFTER_INTERVALS = 3
REDIS_TIMEOUT_S = 1.0


def worker_name():
    """This worker process as heartbeats and step rows name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerHealth(dramatiq.Middleware):
    """Each worker process writes a heartbeat every ``interval_s`` seconds: uptime, jobs active,
    processed and failed (attempts that raised), resident memory, its queues and broker id. A heartbeat that cannot be
    written is logged once and tried again next time; it never affects a job.

    Parameters:
      redis_url(str): where heartbeats go.
      interval_s(float): seconds between heartbeats; default 30.
    """

    def __init__(self, *, redis_url, interval_s=DEFAULT_HEARTBEAT_INTERVAL_S):
        self.logger = get_logger(__name__, type(self))
        self.redis_url = redis_url
        self.interval_s = interval_s
        self.name = None
        self.active = self.processed = self.failed = 0
        self._counters = threading.Lock()
        self._stopped = threading.Event()
        self._failing = False

    def after_worker_boot(self, broker, worker):
        self.name = worker_name()
        self.started = time.time()
        self.queues = sorted(worker.consumers)
        # Dramatiq's Redis broker names its heartbeat and ack sets by this id, not by pid.
        self.broker_id = getattr(broker, "broker_id", "")
        self.client = redis.Redis.from_url(
            self.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()

    def before_worker_shutdown(self, broker, worker):
        self._stopped.set()

    def after_worker_shutdown(self, broker, worker):
        try:  # a clean stop is not a dead worker
            self.client.zrem(WORKERS_KEY, self.name)
            self.client.delete(WORKER_KEY_PREFIX + self.name)
        except redis.RedisError:
            pass
        self.client.close()

    def before_process_message(self, broker, message):
        with self._counters:
            self.active += 1

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self._counters:
            self.active -= 1
            self.processed += 1
            self.failed += exception is not None and not isinstance(exception, JobStopped)  # not a failure

    def _beat(self):
        while True:
            self.write_heartbeat()
            if self._stopped.wait(self.interval_s):
                return

    def write_heartbeat(self):
        now = time.time()
        with self._counters:
            fields = {"active": self.active, "processed": self.processed, "failed": self.failed}
        fields |= {
            "host": self.name.rsplit(":", 1)[0],
            "pid": os.getpid(),
            "started": self.started,
            "last_seen": now,
            "interval": self.interval_s,
            "queues": ",".join(self.queues),
            "broker_id": self.broker_id,
            "rss_bytes": _rss_bytes(),
        }
        key = WORKER_KEY_PREFIX + self.name
        try:
            with self.client.pipeline() as pipe:
                pipe.hset(key, mapping=fields)
                pipe.expire(key, int(self.interval_s * STALE_AFTER_INTERVALS * 10) + 1)
                pipe.zadd(WORKERS_KEY, {self.name: now})
                pipe.execute()
        except redis.RedisError as error:
            if not self._failing:
                self.logger.warning("Cannot write the worker heartbeat: %s", error)
            self._failing = True
            return
        self._failing = False


def _rss_bytes():
    """This process's resident memory (its isolation children are processes of their own), or
    -1 where /proc is not there."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return -1


def read_workers(client, now=None):
    """Every worker that has a heartbeat, newest first, each a dict with ``stale`` and ``age_s``;
    two round trips however many there are (the operations page polls this)."""
    now = now or time.time()
    names = client.zrevrange(WORKERS_KEY, 0, -1)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(WORKER_KEY_PREFIX + name.decode())
        hashes = pipe.execute()
    workers = []
    for name, stored in zip(names, hashes, strict=True):
        fields = {k.decode(): v.decode() for k, v in stored.items()}
        if not fields:
            client.zrem(WORKERS_KEY, name)  # its hash expired long ago: forget it
            continue
        age = now - float(fields["last_seen"])
        workers.append(
            {
                "name": name.decode(),
                "host": fields["host"],
                "pid": int(fields["pid"]),
                "uptime_s": now - float(fields["started"]),
                "active": int(fields["active"]),
                "processed": int(fields["processed"]),
                "failed": int(fields["failed"]),
                "queues": fields["queues"].split(",") if fields["queues"] else [],
                "broker_id": fields.get("broker_id", ""),
                "rss_bytes": int(fields["rss_bytes"]) if fields.get("rss_bytes", "-1") != "-1" else None,
                "age_s": age,
                "stale": age > STALE_AFTER_INTERVALS * float(fields["interval"]),
            }
        )
    return workers
