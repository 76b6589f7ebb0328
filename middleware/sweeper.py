"""The reconciliation sweep, run by the workers: one process at a time re-sends stuck steps,
and applies retention (imagepipe.retention) at most once an interval across the fleet."""

import threading
import uuid
from pathlib import Path

import dramatiq
import redis
from dramatiq.logging import get_logger

from imagepipe.retention import purge
from imagepipe.settings import (
    DEFAULT_RETENTION_INTERVAL_S,
    DEFAULT_SWEEP_DEADLINE_S,
    DEFAULT_SWEEP_INTERVAL_S,
    get_settings,
)
from imagepipe.sweep import sweep
from models import database

from .health import worker_name

#: Held by the worker process that sweeps; its value is that process's token.
LOCK_KEY = "imagepipe:sweeper"
#: Set by the process that starts a retention pass; while it lives, no other pass starts.
RETENTION_KEY = "imagepipe:retention"
SCRIPT = (Path(__file__).parent / "sweeper.lua").read_text()
REDIS_TIMEOUT_S = 1.0


class Sweeper(dramatiq.Middleware):
    """Every ``interval_s`` seconds, one worker process re-sends the messages of the steps
    stuck in ``queued`` or ``processing`` for longer than ``deadline_s`` (imagepipe/sweep.py).

    Each round every process runs middleware/sweeper.lua: the holder of the Redis lock
    ``imagepipe:sweeper`` renews it and sweeps, the others do nothing. The lock lives two
    intervals, so when its holder dies another process takes over within that time. A round
    that fails (Redis or the database down) is logged and the next one runs as usual; it never
    affects a job. The first round runs one interval after the worker boots.

    The lock holder also runs a retention pass when none ran in the fleet for
    ``retention_interval_s`` (the Redis key ``imagepipe:retention`` says when one did). A pass
    stops starting batches after ``interval_s``, inside the lock's lifetime; one cut short
    clears the key, so the next round goes on with what is left.

    Parameters:
      interval_s(float): seconds between rounds; default 60, 0 turns the sweeper off.
      deadline_s(float): seconds without activity after which a step is stuck; default 600,
        longer than any step plus its retries; 0 turns the sweeper off.
      redis_url(str): where the lock lives; default ``REDIS_URL``.
      retention(dict): ``{kind: days}`` as imagepipe.retention.retention_days gives; default
        none (no retention, the sweep alone).
      retention_interval_s(float): seconds between retention passes; default 3600.
    """

    def __init__(
        self,
        *,
        interval_s=DEFAULT_SWEEP_INTERVAL_S,
        deadline_s=DEFAULT_SWEEP_DEADLINE_S,
        redis_url=None,
        retention=None,
        retention_interval_s=DEFAULT_RETENTION_INTERVAL_S,
    ):
        self.logger = get_logger(__name__, type(self))
        self.interval_s = interval_s
        self.deadline_s = deadline_s
        self.redis_url = redis_url
        self.retention = retention or {}
        self.retention_interval_s = retention_interval_s
        self.token = _new_token()
        self.client = self._script = None
        self._stopped = threading.Event()

    @property
    def enabled(self):
        return self.interval_s > 0 and (self.deadline_s > 0 or bool(self.retention))

    def after_worker_boot(self, broker, worker):
        if not self.enabled:
            return
        self.token = _new_token()  # per forked process
        self._stopped.clear()
        threading.Thread(target=self._run, args=(broker,), name="sweeper", daemon=True).start()

    def before_worker_shutdown(self, broker, worker):
        self._stopped.set()

    def _run(self, broker):
        while not self._stopped.wait(self.interval_s):
            self.run_round(broker)

    def run_round(self, broker):
        """One round: the stuck steps this process re-sent, or None when another process holds
        the lock (or the round failed)."""
        try:
            if not self._take_lock():
                return None
            try:
                resent = sweep(self.deadline_s, broker=broker) if self.deadline_s > 0 else []
                if self.retention:
                    self._retain()
                return resent
            finally:
                if not database.is_closed():
                    database.close()  # this thread's connection: the next round is an interval away
        except Exception:
            self.logger.exception("The sweep failed; trying again in %s s.", self.interval_s)
            return None

    def _retain(self):
        """A retention pass, unless one started in the fleet less than an interval ago; its
        report, or None."""
        interval_ms = int(self.retention_interval_s * 1000) or 1
        if not self.client.set(RETENTION_KEY, self.token, nx=True, px=interval_ms):
            return None
        try:
            report = purge(self.retention, budget_s=self.interval_s)
        except Exception:
            self.client.delete(RETENTION_KEY)  # the next round tries again
            self.logger.exception("The retention pass failed; trying again in %s s.", self.interval_s)
            return None
        if not all(purged.finished for purged in report):
            self.client.delete(RETENTION_KEY)  # cut short by its budget: the next round goes on
        return report

    def _take_lock(self):
        if self._script is None:
            url = self.redis_url or get_settings().redis_url
            self.client = redis.Redis.from_url(
                url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
            )
            self._script = self.client.register_script(SCRIPT)
        return bool(self._script(keys=[LOCK_KEY], args=[self.token, int(self.interval_s * 2000) or 1]))


def _new_token():
    """This process's lock token: its worker name (``host:pid``) and a random part."""
    return f"{worker_name()}:{uuid.uuid4().hex[:8]}"
