"""ShutdownTimeouts' grace period, on the thread level; tests/reliability/test_sigterm.py runs
it under the real `dramatiq` runner."""

import threading
import time

import dramatiq
from dramatiq.brokers.stub import StubBroker

from middleware import ShutdownTimeouts
from middleware.shutdown import JobInterrupted


def run_job(timeouts, broker, message, outcome):
    """A job as a worker thread runs it: registered, then busy in Python for up to 10 s."""
    timeouts.before_process_message(broker, message)
    try:
        for _ in range(100):
            time.sleep(0.1)
        outcome.append("finished")
    except JobInterrupted:
        outcome.append(time.monotonic())


def test_a_job_that_starts_after_the_stop_began_is_interrupted_at_the_deadline_too():
    """Dramatiq's threads take messages for up to a second after SIGTERM; with no job running
    at the stop, the watcher used to end at once and such a job ran on past the deadline."""
    broker = StubBroker()

    @dramatiq.actor(broker=broker)
    def job():
        pass

    timeouts = ShutdownTimeouts(default_timeout_s=1)
    message = dramatiq.Message(queue_name="default", actor_name="job", args=(), kwargs={}, options={})
    outcome = []
    stop_began = time.monotonic()
    timeouts.before_worker_shutdown(broker, None)  # nothing runs yet
    time.sleep(0.3)
    thread = threading.Thread(target=run_job, args=(timeouts, broker, message, outcome))
    thread.start()
    thread.join(timeout=15)
    timeouts.after_worker_shutdown(broker, None)

    assert len(outcome) == 1 and outcome[0] != "finished", outcome
    assert outcome[0] - stop_began < 1 + 0.5
