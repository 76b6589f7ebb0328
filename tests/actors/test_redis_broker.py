"""ReconnectingRedisBroker: a delayed message runs once, whatever its consumer thread lives through.

In-process Workers on a real Redis: two Workers on one broker, and a Redis that goes away
while delayed messages wait in a consumer's memory.
"""

import signal
import threading
import time

import dramatiq
import pytest
from dramatiq import Worker

from actors.redis_broker import ReconnectingRedisBroker
from imagepipe.redis_server import PrivateRedis
from tests.helpers import wait_until

DELAY_MS = 1500


def _counting_broker(url):
    """A bare broker with one actor that counts its runs, and the counter."""
    broker = ReconnectingRedisBroker(url=url, middleware=[], namespace="broker-test")
    broker.flush_all()
    runs, lock = [], threading.Lock()

    def count(n):
        with lock:
            runs.append(n)

    counted = dramatiq.actor(count, broker=broker, actor_name="count", queue_name="q")
    return broker, counted, runs


def _held_in_redis(broker):
    """Delayed messages handed to a consumer and not acked yet, in every ack set of the queue."""
    return sum(broker.client.scard(key) for key in broker.client.keys("broker-test:__acks__.*.q.DQ"))


def _worker(broker):
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    return worker


def test_a_second_worker_on_the_same_broker_does_not_run_the_firsts_delayed_message_again(redis_url):
    broker, counted, runs = _counting_broker(redis_url)
    first = _worker(broker)
    second = None
    try:
        counted.send_with_options(args=(1,), delay=DELAY_MS)
        wait_until(lambda: _held_in_redis(broker) == 1, 5, "the first worker to hold the delayed message")
        second = _worker(broker)
        time.sleep(DELAY_MS / 1000 + 1.5)
    finally:
        for worker in (first, second):
            if worker:
                worker.stop()
        broker.close()

    assert runs == [1]


@pytest.mark.timeout(60)
def test_delayed_messages_held_when_redis_went_away_run_once_when_it_is_back(tmp_path):
    server = PrivateRedis(persistent=True).start()
    broker, counted, runs = _counting_broker(server.url)
    worker = _worker(broker)
    try:
        for n in range(3):
            counted.send_with_options(args=(n,), delay=DELAY_MS)
        wait_until(lambda: _held_in_redis(broker) == 3, 5, "the worker to hold the delayed messages")
        server.halt(signal.SIGKILL)  # the consumer's next fetch fails: it drops what it held
        time.sleep(1)
        server.start()
        wait_until(lambda: len(runs) == 3, 20, lambda: f"the three messages to run: {runs}")
        time.sleep(2)  # no second run
        held = _held_in_redis(broker)
    finally:
        worker.stop()
        broker.close()
        server.stop()

    assert sorted(runs) == [0, 1, 2]
    assert held == 0
