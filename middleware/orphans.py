"""Worker processes that outlive their main process stop themselves."""

import faulthandler
import fcntl
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection

import dramatiq
from dramatiq.compat import StreamablePipe
from dramatiq.logging import get_logger

from .runner import in_runner_process

POLL_INTERVAL_S = 0.5
STDERR_FD = 2
DEFAULT_EXIT_AFTER_S = 30
#: Dramatiq's worker process checks its stop flag every second; one that has not begun to stop
#: this long after its SIGTERM is stuck.
STOP_BEGINS_S = 3


class StopWhenOrphaned(dramatiq.Middleware):
    """A `dramatiq` worker process whose main process died (SIGKILL, the OOM killer) stops
    itself as if it had got SIGTERM: its running jobs finish, or ShutdownTimeouts requeues them.

    Dramatiq's worker processes do not watch their parent. Without this they would go on taking
    messages, unsupervised and beyond the platform's signals, beside the processes of the main
    process that the platform or supervisor starts next.

    A worker process logs into a pipe that its main process reads. Once that reader is dead the
    pipe fills up (other processes hold its read end but never read), and every thread that
    logs then blocks for good: measured, orphans hung for minutes in their shutdown. So the
    orphan first reads its own pipe and passes the lines on to its stderr, which it inherited
    from the main process and which goes where the platform collects logs.

    A worker process whose main process was killed while it booted never stops by itself:
    Dramatiq's boot ends with ``event.set()`` on a ``multiprocessing.Event`` that the main
    process waits on, and setting it waits for that waiter to wake, which a dead one never
    does; the main thread hangs there for good, with the Worker already running, and never
    gets to ``worker.stop()`` (seen in every run of the random-kill test, 1 to 5 times; the
    stack is in ``faulthandler``'s dump). So when the stop has not begun ``STOP_BEGINS_S``
    after the SIGTERM, this thread stops the Worker itself (running jobs finish or are
    requeued, messages it holds in memory go back to their queues) and ends the process. One
    still there ``exit_after_s`` seconds after the SIGTERM exits at once, after dumping every
    thread's stack.

    Parameters:
      exit_after_s(float): the longest an orphan may take to stop; keep it above the
        shutdown timeout. Default 30.
    """

    def __init__(self, *, exit_after_s=DEFAULT_EXIT_AFTER_S):
        self.logger = get_logger(__name__, type(self))
        self.exit_after_s = exit_after_s
        self._stopping = threading.Event()

    def after_worker_boot(self, broker, worker):
        if in_runner_process():
            watch = threading.Thread(target=self._watch, args=(_main_pid(), worker), name="orphan-watch", daemon=True)
            watch.start()

    def before_worker_shutdown(self, broker, worker):
        self._stopping.set()

    def _watch(self, main_pid, worker):
        while os.getppid() == main_pid:
            time.sleep(POLL_INTERVAL_S)
        reader = _log_pipe_reader()
        if reader is not None:
            threading.Thread(target=_forward_to_stderr, args=(reader,), name="orphan-log", daemon=True).start()
        self.logger.warning("Main process %d is gone: stopping this worker process.", main_pid)
        os.kill(os.getpid(), signal.SIGTERM)
        if not self._stopping.wait(STOP_BEGINS_S):
            threading.Thread(target=self._stop, args=(worker,), name="orphan-stop", daemon=True).start()
        time.sleep(self.exit_after_s)
        # Still here: stuck, e.g. on a lock of the dead main process's (it may have died holding
        # one while this process booted). What this process holds comes back as a killed one's.
        os.write(STDERR_FD, f"Worker process {os.getpid()} did not stop in {self.exit_after_s}s: exiting.\n".encode())
        faulthandler.dump_traceback(file=STDERR_FD, all_threads=True)  # where it was stuck
        os._exit(1)

    def _stop(self, worker):
        """Stop ``worker`` in place of a main thread that hangs in Dramatiq's boot, and exit."""
        self.logger.warning("The main thread did not stop the worker: stopping it from here.")
        worker.stop(timeout=int(self.exit_after_s * 1000))
        logging.shutdown()
        os._exit(0)


def _main_pid():
    """The pid of the process that forked this one, as recorded at the fork: when the main
    process is killed while this one boots, ``os.getppid()`` is already someone else's."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else os.getppid()


def _log_pipe_reader():
    """The read end of the pipe this process logs into, which it inherited when it was forked."""
    writers = [h.stream for h in logging.getLogger().handlers if isinstance(getattr(h, "stream", None), StreamablePipe)]
    if not writers or not os.path.isdir("/proc/self/fd"):
        return None
    written = os.fstat(writers[0].fileno())
    pipe = (written.st_dev, written.st_ino)
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            found = os.fstat(fd)
            same_pipe = (found.st_dev, found.st_ino) == pipe
            read_only = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
        except OSError:
            continue  # the descriptor used for listing the folder, closed since
        if same_pipe and read_only:
            return Connection(fd, writable=False)
    return None


def _forward_to_stderr(reader):
    """Pass what arrives in the log pipe to file descriptor 2: Dramatiq points ``sys.stderr``
    of a worker process at the pipe itself."""
    while True:
        try:
            os.write(STDERR_FD, reader.recv_bytes())
        except (EOFError, OSError):
            return
