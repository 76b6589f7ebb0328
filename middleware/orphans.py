"""Worker processes that outlive their main process stop themselves."""

import os
import signal
import threading
import time

import dramatiq
from dramatiq.logging import get_logger

from .runner import in_runner_process

POLL_INTERVAL_S = 0.5


class StopWhenOrphaned(dramatiq.Middleware):
    """A `dramatiq` worker process whose main process died (SIGKILL, the OOM killer) stops
    itself as if it had got SIGTERM: its running jobs finish, or ShutdownTimeouts requeues them.

    Dramatiq's worker processes do not watch their parent. Without this they would go on taking
    messages, unsupervised and beyond the platform's signals, beside the processes of the main
    process that the platform or supervisor starts next.
    """

    def __init__(self):
        self.logger = get_logger(__name__, type(self))

    def after_worker_boot(self, broker, worker):
        if in_runner_process():
            threading.Thread(target=self._watch, args=(os.getppid(),), name="orphan-watch", daemon=True).start()

    def _watch(self, main_pid):
        while os.getppid() == main_pid:
            time.sleep(POLL_INTERVAL_S)
        self.logger.warning("Main process %d is gone: stopping this worker process.", main_pid)
        os.kill(os.getpid(), signal.SIGTERM)
