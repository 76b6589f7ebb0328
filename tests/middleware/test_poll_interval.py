"""PollInterval: the worker polls as often as the stack says, whatever the environment."""

import dramatiq
from dramatiq.brokers.stub import StubBroker

from middleware import PollInterval


def test_the_worker_and_its_consumers_take_the_stacks_interval():
    broker = StubBroker(middleware=[PollInterval(interval_ms=100)])
    broker.declare_queue("default")
    worker = dramatiq.Worker(broker, worker_timeout=1000)  # Dramatiq's default
    worker.start()
    try:
        assert worker.worker_timeout == 100
        assert {consumer.worker_timeout for consumer in worker.consumers.values()} == {100}
    finally:
        worker.stop()
