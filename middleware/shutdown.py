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


class RunningActors(dramatiq.Middleware):
    """The threads whose actor function runs now. It must be last in the middleware list: its
    before hook is then the last before the actor, and its after hooks the first after it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.threads = set()

    def before_process_message(self, broker, message):
        with self.lock:
            self.threads.add(threading.get_ident())

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self.lock:
            self.threads.discard(threading.get_ident())


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

    The stop request also stops the worker threads from taking new messages at once, as
    Dramatiq's own stop does first. Were its main thread stuck (a worker process whose main
    process was killed while it booted can wait for good on a lock that process held), that
    stop never comes: its threads went on taking messages, and each one that they took after
    the grace period was interrupted as it started and sent again, to be taken again by the
    same process, hundreds of times a second until StopWhenOrphaned ended the process (seen
    under random SIGKILLs, with one message lost in the churn).

    A job is interrupted only while its actor runs (``running``, last in the stack), never in
    a middleware's hook: an interrupt there would abort what the hook was doing, such as
    sending the steps that a finished one made ready, and Dramatiq would then run every after
    hook again as for an interrupted job. A job past its grace period in a hook is
    interrupted if it comes back to its actor, and otherwise simply ends.

    Parameters:
      default_timeout_ms(int): grace period for actors that set none; default 25000 (under the
        30 s a Heroku-style platform allows between SIGTERM and SIGKILL).
      on_interrupt(callable): called with the message after it was requeued; default none.
      running(RunningActors): the stack's last middleware; default a new one (put
        ``shutdown_timeouts.running`` last; a worker warns at boot when it is not).
    """

    actor_options = {"shutdown_timeout"}

    def __init__(self, *, default_timeout_ms=DEFAULT_SHUTDOWN_TIMEOUT_S * 1000, on_interrupt=None, running=None):
        self.logger = get_logger(__name__, type(self))
        self.default_timeout_ms = default_timeout_ms
        self.on_interrupt = on_interrupt
        self.running = running or RunningActors()
        self._running = {}  # thread id -> (message id, grace period in milliseconds)
        self._lock = threading.Lock()
        self._shutdown_started = None  # time.monotonic() of the first stop request
        self._worker = None

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

    def before_worker_boot(self, broker, worker):
        stack = broker.middleware
        later = stack[stack.index(self.running) + 1 :] if self.running in stack else stack
        if later:  # added after build_middleware (broker.add_middleware), or a stack of one's own
            names = ", ".join(type(middleware).__name__ for middleware in later)
            self.logger.warning("%s come after ShutdownTimeouts.running: their hooks may be interrupted.", names)

    def after_worker_boot(self, broker, worker):
        self._worker = worker
        if not in_runner_process():
            return  # an embedded Worker: its signals belong to its host program
        dramatiq_handler = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            first = self._shutdown_started is None
            if first or time.monotonic() - self._shutdown_started > REPEATED_SIGTERM_WINDOW_S:
                self.request_stop()
                dramatiq_handler(signum, frame)
            else:
                self.logger.info("Ignoring a repeated SIGTERM: the worker is already stopping.")

        signal.signal(signal.SIGTERM, on_sigterm)

    def before_worker_shutdown(self, broker, worker):
        self.request_stop()

    def request_stop(self):
        """What the first stop request does: start the grace period, and stop the worker
        threads from taking new messages (each finishes the one it runs)."""
        if self._shutdown_started is not None:
            return
        self._shutdown_started = time.monotonic()
        for thread in self._worker.workers if self._worker else ():
            thread.stop()
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
                if elapsed_ms >= timeout_ms and self._interrupt(thread_id):
                    self.logger.warning("Interrupted message %s: shutdown timeout of %d ms.", message_id, timeout_ms)
                    interrupted.add((thread_id, message_id))
            time.sleep(POLL_INTERVAL_S)

    def _interrupt(self, thread_id):
        """Raise JobInterrupted in the thread if its actor runs; True when it was raised. Under
        the lock that the actor's end takes, so it cannot land in the hooks that follow."""
        with self.running.lock:
            if thread_id not in self.running.threads:
                return False
            raise_thread_exception(thread_id, JobInterrupted)
            return True
