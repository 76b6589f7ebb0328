"""How often a worker polls its queues: the stack sets it, not an environment variable."""

import dramatiq

from imagepipe.settings import DEFAULT_POLL_INTERVAL_MS


class PollInterval(dramatiq.Middleware):
    """Sets the worker's ``worker_timeout`` before it boots, so ``dramatiq actors`` as typed
    polls as often as the stack needs.

    Dramatiq moves due delayed messages (throttled, retried) and polls idle queues only every
    ``worker_timeout`` ms, 1000 by default, read from ``dramatiq_worker_timeout`` when
    Dramatiq is imported: a throttled message then starts up to a second late, and a live
    process may go a second without the broker call that refreshes its heartbeat.
    ``before_worker_boot`` runs before ``Worker.start()`` creates its consumers and worker
    threads, which take the interval from the worker, so setting it here is enough.

    Parameters:
      interval_ms(int): the poll interval in milliseconds; default 100.
    """

    def __init__(self, *, interval_ms=DEFAULT_POLL_INTERVAL_MS):
        self.interval_ms = interval_ms

    def before_worker_boot(self, broker, worker):
        worker.worker_timeout = self.interval_ms
