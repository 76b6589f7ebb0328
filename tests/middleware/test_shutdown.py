"""ShutdownTimeouts with in-process Workers (StubBroker: the threads, not the broker, matter)."""

import threading
import time

import dramatiq
from dramatiq.brokers.stub import StubBroker

from middleware.shutdown import ShutdownTimeouts


class SlowAfterHook(dramatiq.Middleware):
    """An after hook that takes a while, as StepTracking's does when it sends the next steps."""

    def __init__(self):
        self.entered, self.finished = threading.Event(), []

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self.entered.set()
        time.sleep(0.5)
        self.finished.append(exception)


def _worker(broker):
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    return worker


def test_a_job_past_its_grace_period_in_a_middleware_hook_is_not_interrupted_there():
    shutdown, slow = ShutdownTimeouts(default_timeout_ms=100), SlowAfterHook()
    broker = StubBroker(middleware=[shutdown, slow, shutdown.running])
    requeued = []
    quick = dramatiq.actor(lambda: None, broker=broker, actor_name="quick")
    shutdown.on_interrupt = requeued.append
    worker = _worker(broker)
    quick.send()
    assert slow.entered.wait(5)
    worker.stop()  # the grace period (100 ms) ends while the hook still runs

    assert slow.finished == [None]  # the hook ran to its end, for a job that succeeded
    assert requeued == []


def test_a_job_past_its_grace_period_in_its_actor_is_interrupted_and_requeued():
    shutdown = ShutdownTimeouts(default_timeout_ms=100)
    broker = StubBroker(middleware=[shutdown, shutdown.running])
    requeued, started = [], threading.Event()

    def slow():
        started.set()
        for _ in range(100):
            time.sleep(0.05)

    dramatiq.actor(slow, broker=broker, actor_name="slow").send()
    shutdown.on_interrupt = requeued.append
    worker = _worker(broker)
    assert started.wait(5)
    stopping = time.monotonic()
    worker.stop()

    assert time.monotonic() - stopping < 2
    assert [message.actor_name for message in requeued] == ["slow"]


def test_middleware_after_running_actors_is_named_at_boot(caplog):
    shutdown = ShutdownTimeouts()
    broker = StubBroker(middleware=[shutdown, shutdown.running])
    broker.add_middleware(SlowAfterHook())  # as an app adding Results would

    _worker(broker).stop()

    assert "SlowAfterHook come after ShutdownTimeouts.running: their hooks may be interrupted." in caplog.text


def test_after_a_stop_request_no_new_message_starts_even_before_the_worker_stops():
    """A worker process whose main thread is stuck never calls Worker.stop(): the SIGTERM's
    request_stop() alone keeps its threads from taking more messages, which would otherwise be
    interrupted as they start once the grace period is over, requeued, and taken again."""
    shutdown = ShutdownTimeouts(default_timeout_ms=100)
    broker = StubBroker(middleware=[shutdown, shutdown.running])
    started, release = [], threading.Event()

    def job(number):
        started.append(number)
        release.wait(5)

    actor = dramatiq.actor(job, broker=broker, actor_name="job")
    worker = _worker(broker)
    actor.send(1)
    while not started:
        time.sleep(0.01)
    shutdown.request_stop()
    actor.send(2)
    time.sleep(0.5)  # the grace period is over: message 2 would start and be interrupted
    release.set()
    time.sleep(0.3)

    assert started == [1]
    worker.stop()
