"""Bounded shutdown: running jobs get a grace period, then go back to the queue."""

import signal
import threading
import time

import dramatiq
from dramatiq.logging import get_logger
from dramatiq.threading import Interrupt, raise_thread_exception

from imagepipe.settings import DEFAULT_SHUTDOWN_TIMEOUT_S

from .requeue import enqueue_again
from .runner import in_runner_process

#: How often the shutdown watcher looks at the running jobs (seconds).
POLL_INTERVAL_S = 0.05
#: A SIGTERM this soon after the first is the same stop asked twice, not a demand to die now.
REPEATED_SIGTERM_WINDOW_S = 10


class JobInterrupted(Interrupt):
    """Raised into a job's thread when its shutdown grace period ran out; it is requeued."""


class ShutdownTimeouts(dramatiq.Middleware):
    """On SIGTERM/SIGINT, lets running messages finish for at most their ``shutdown_timeout``
    (milliseconds, like Dramatiq's ``time_limit``; actor option, else ``default_timeout_ms``),
    then interrupts them and enqueues them
    again: not failed, not dead-lettered, not counted as a retry, so the next worker runs them.

    Dramatiq's own worker stop waits up to ``--worker-shutdown-timeout`` and then abandons a
    running message to the broker's slow heartbeat recovery. Interrupting first, and keeping
    that CLI timeout a little longer than the longest grace period (the Procfile does), makes
    the process exit in time with nothing lost. Like every asynchronous interrupt it takes
    effect when the thread is next in Python: a long C call (a decoder) finishes first.

    On a Heroku-style platform SIGTERM reaches every process of the dyno, and Dramatiq's main
    process forwards its own too: a worker process gets it twice, and Dramatiq exits at once
    on a second one, abandoning its running jobs. So in a ``dramatiq`` worker process this
    middleware wraps the SIGTERM handler: the first SIGTERM stops the worker as usual and
    starts the grace period at once (Dramatiq's own stop begins up to a second later); a
    repeat within ``REPEATED_SIGTERM_WINDOW_S`` is logged and ignored (the platform's SIGKILL
    remains the hard stop); a later one still kills the process as Dramatiq would.

    Parameters:
      default_timeout_ms(int): grace period for actors that set none; default 25000 (under the
        30 s a Heroku-style platform allows between SIGTERM and SIGKILL).
      on_interrupt(callable): called with the message after it was requeued; default none.
    """

    actor_options = {"shutdown_timeout"}

    def __init__(self, *, default_timeout_ms=DEFAULT_SHUTDOWN_TIMEOUT_S * 1000, on_interrupt=None):
        self.logger = get_logger(__name__, type(self))
        self.default_timeout_ms = default_timeout_ms
        self.on_interrupt = on_interrupt
        self._running = {}  # thread id -> (message id, grace period in milliseconds)
        self._lock = threading.Lock()
        self._shutdown_started = None  # time.monotonic() of the first stop request

    def before_process_message(self, broker, message):
        actor = broker.get_actor(message.actor_name)
        timeout = message.options.get("shutdown_timeout", actor.options.get("shutdown_timeout"))
        with self._lock:
            self._running[threading.get_ident()] = (message.message_id, timeout or self.default_timeout_ms)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self._lock:
            self._running.pop(threading.get_ident(), None)
        if isinstance(exception, JobInterrupted):
            enqueue_again(broker, message)
            self.logger.warning("Requeued message %s after its shutdown timeout.", message.message_id)
            if self.on_interrupt:
                self.on_interrupt(message)

    def after_skip_message(self, broker, message):
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    def after_worker_boot(self, broker, worker):
        if not in_runner_process():
            return  # an embedded Worker: its signals belong to its host program
        dramatiq_handler = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            first = self._shutdown_started is None
            if first or time.monotonic() - self._shutdown_started > REPEATED_SIGTERM_WINDOW_S:
                self._start_grace_period()
                dramatiq_handler(signum, frame)
            else:
                self.logger.info("Ignoring a repeated SIGTERM: the worker is already stopping.")

        signal.signal(signal.SIGTERM, on_sigterm)

    def before_worker_shutdown(self, broker, worker):
        self._start_grace_period()

    def _start_grace_period(self):
        if self._shutdown_started is not None:
            return
        self._shutdown_started = time.monotonic()
        threading.Thread(target=self._interrupt_when_due, args=(self._shutdown_started,), daemon=True).start()

    def _interrupt_when_due(self, shutdown_started):
        interrupted = set()
        while True:
            with self._lock:
                running = dict(self._running)
            pending = {tid: job for tid, job in running.items() if (tid, job[0]) not in interrupted}
            if not pending:
                return
            elapsed_ms = (time.monotonic() - shutdown_started) * 1000
            for thread_id, (message_id, timeout_ms) in pending.items():
                if elapsed_ms >= timeout_ms:
                    self.logger.warning("Interrupting message %s: shutdown timeout of %d ms.", message_id, timeout_ms)
                    raise_thread_exception(thread_id, JobInterrupted)
                    interrupted.add((thread_id, message_id))
            time.sleep(POLL_INTERVAL_S)
