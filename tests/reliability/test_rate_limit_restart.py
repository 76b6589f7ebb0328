"""The rate limiter across a Redis restart, under the real multiprocess `dramatiq` runner."""

import signal
import threading
import time

import pytest
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerError

from imagepipe.redis_server import PrivateRedis
from imagepipe.worker_process import stop_worker
from tests.helpers import busiest_window, start_test_worker
from tests.worker_app import RATE_LIMIT_QUEUE, STARTS_KEY

MESSAGES = 300
RATE = 10
SEND_RATE = 15


def recorded_starts(redis_client):
    """[(start time, message number)] as the probe recorded them."""
    entries = (entry.split() for entry in redis_client.lrange(STARTS_KEY, 0, -1))
    return [(float(at), int(n)) for at, n in entries]


def wait_for_starts(redis_client, count, timeout_s):
    deadline = time.monotonic() + timeout_s
    while len({n for _, n in recorded_starts(redis_client)}) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def send_steadily(sender):
    """Send the messages at SEND_RATE a second, faster than the limit, so that some arrive while
    the limiter is away; a send that meets the outage is tried again."""
    began = time.monotonic()
    for n in range(MESSAGES):
        time.sleep(max(0.0, began + n / SEND_RATE - time.monotonic()))
        message = Message(queue_name=RATE_LIMIT_QUEUE, actor_name="rate_probe", args=(n,), kwargs={}, options={})
        while True:
            try:
                sender.enqueue(message)
                break
            except (redis.RedisError, BrokerError):
                time.sleep(0.1)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("limiter", ["the broker's Redis", "a Redis of its own"])
def test_10_per_second_holds_across_a_redis_crash(redis_client, redis_url, tmp_path, limiter):
    """300 messages at 10/s under 2 processes x 8 threads, sent at 15/s; the limiter's Redis is
    killed a third of the way in and started again 2 s later. Never more than 10 starts in any 1 s window, and
    every message runs.

    With one Redis for both, the usual set-up, the broker is down too; with a Redis of its own,
    messages keep coming while the limiter is away, the case that failing open would break.
    The probe records its starts in the test's own Redis, which stays up.
    """
    server = PrivateRedis(persistent=True).start()
    broker_url = server.url if limiter == "the broker's Redis" else redis_url
    env = {
        "REDIS_URL": server.url,
        "BROKER_URL": broker_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
        "IMAGEPIPE_RATE_LIMITS": f"rate_probe={RATE}/s",
        "IMAGEPIPE_TEST_PROBE_REDIS_URL": redis_url,
    }
    worker = start_test_worker(env, processes=2, threads=8)
    sender = RedisBroker(url=broker_url, middleware=[])
    sending = threading.Thread(target=send_steadily, args=(sender,), daemon=True)
    try:
        sending.start()
        wait_for_starts(redis_client, MESSAGES // 3, 60)
        server.halt(signal.SIGKILL)
        time.sleep(2)
        server.start()
        wait_for_starts(redis_client, MESSAGES, 90)
        sending.join(timeout=10)
        failed = sender.client.llen(f"dramatiq:{RATE_LIMIT_QUEUE}.XQ")
    finally:
        sender.close()
        stop_worker(worker)
        server.stop()

    starts = recorded_starts(redis_client)
    times = [at for at, _ in starts]
    busiest = busiest_window(times)
    print(
        f"FIGURE fault6: limiter on {limiter}: {len(starts)} starts of {MESSAGES} messages at {RATE}/s "
        "across a Redis crash, "
        f"busiest 1 s window {busiest}, last start {max(times) - min(times):.1f}s after the first"
    )
    assert {n for _, n in starts} == set(range(MESSAGES))
    assert busiest <= RATE
    assert failed == 0
