"""RateLimits: one Redis round trip per decision, across processes, delaying instead of failing."""

import time
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from imagepipe.event_stream import decode
from imagepipe.redis_server import PrivateRedis
from imagepipe.worker_process import stop_worker
from middleware import RateLimits
from middleware.rate_limit import InvalidRateLimit, parse_rate
from tests.conftest import with_rabbitmq
from tests.helpers import busiest_window, start_test_worker
from tests.worker_app import STARTS_KEY, rate_probe


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("10/m", (10, 60_000)),
        ("20/s", (20, 1_000)),
        ("500/h", (500, 3_600_000)),
        ("100/30s", (100, 30_000)),
        ("off", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rate(text, parsed):
    assert parse_rate(text) == parsed


@pytest.mark.parametrize("text", ["10", "ten/m", "10/d", "0/s", "10/m/s"])
def test_a_malformed_rate_is_refused_with_its_form(text):
    with pytest.raises(InvalidRateLimit, match="COUNT/PERIOD"):
        parse_rate(text)


def test_a_typo_in_an_actor_option_fails_at_declaration(redis_url):
    broker = RedisBroker(url=redis_url, middleware=[RateLimits(redis_url=redis_url)])

    with pytest.raises(InvalidRateLimit):
        dramatiq.actor(lambda: None, actor_name="typo", rate_limit="10 per minute", broker=broker)


def test_a_messages_own_limit_beats_its_actors_and_the_settings_beat_both(redis_url):
    """``imagepipe describe --provider openai`` sends describe messages with the remote limit
    while the workers' describe actor, configured local, has none."""
    limiter = RateLimits(redis_url=redis_url, overrides={"overridden": "off"})
    broker = RedisBroker(url=redis_url, middleware=[limiter])
    free = dramatiq.actor(lambda: None, actor_name="free", broker=broker)
    overridden = dramatiq.actor(lambda: None, actor_name="overridden", rate_limit="1/s", broker=broker)

    assert limiter.limit_for(free, free.message()) is None
    assert limiter.limit_for(free, free.message_with_options(rate_limit="10/m")) == (10, 60_000)
    assert limiter.limit_for(free, free.message_with_options(rate_limit=None)) is None
    assert limiter.limit_for(overridden, overridden.message_with_options(rate_limit="10/m")) is None


def limited_broker(redis_url, limiter_url, starts, rate="3/s"):
    broker = RedisBroker(url=redis_url, middleware=[RateLimits(redis_url=limiter_url, jitter_ms=10)])
    broker.flush_all()

    @dramatiq.actor(broker=broker, rate_limit=rate)
    def probe(n):
        starts.append((n, time.monotonic()))

    return broker, probe


def test_over_the_limit_messages_are_delayed_not_failed(redis_client, redis_url):
    """6 messages at 3/s: 3 start at once, 3 about a second later, none fails or retries."""
    starts = []
    broker, probe = limited_broker(redis_url, redis_url, starts)
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=4)
    worker.start()
    try:
        messages = [probe.send(n) for n in range(6)]
        deadline = time.monotonic() + 10
        while len(starts) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()

    times = sorted(t for _, t in starts)
    assert sorted(n for n, _ in starts) == list(range(6))
    assert times[2] - times[0] < 0.5
    assert times[3] - times[0] >= 0.95
    assert redis_client.llen(f"dramatiq:{probe.queue_name}.XQ") == 0  # nothing dead-lettered
    assert len({m.message_id for m in messages}) == 6


def test_an_unreachable_limiter_holds_messages_back_until_it_is_back(redis_client, redis_url, caplog):
    """Fail closed: while the limiter's Redis is down nothing limited starts and nothing fails;
    the messages wait in the delay queue and run once it is back."""
    starts = []
    with PrivateRedis() as limiter:
        broker, probe = limited_broker(redis_url, limiter.url, starts, rate="3/s")
        limiter.halt()
        worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
        worker.start()
        try:
            for n in range(3):
                probe.send(n)
            time.sleep(1.5)
            started_while_down = len(starts)
            limiter.start()
            broker.join(probe.queue_name, timeout=10_000)
            worker.join()
        finally:
            worker.stop()

    assert started_while_down == 0
    assert sorted(n for n, _ in starts) == [0, 1, 2]
    assert redis_client.llen(f"dramatiq:{probe.queue_name}.XQ") == 0
    assert "Rate limiter unavailable, holding" in caplog.text


@pytest.mark.timeout(90)
@with_rabbitmq
def test_20_per_second_holds_across_2_processes_x_8_threads(redis_client, redis_url, broker_url, tmp_path):
    """300 messages at 20/s under plain `dramatiq --processes 2 --threads 8` (no dramatiq_*
    variable: the stack sets its own poll interval): never more than 20 starts in any 1 s
    window, and first to last start within 1.15x of the ideal 14.95 s. The throttled messages
    wait in the broker's delay queue: Redis's, or RabbitMQ's."""
    env = {"REDIS_URL": redis_url, "BROKER_URL": broker_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"}
    worker = start_test_worker(env, processes=2, threads=8)
    try:
        time.sleep(2)  # both processes booted and polling
        environ = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
        assert not [name for name in environ if name.lower().startswith(b"dramatiq_")]
        started = time.time()
        for n in range(300):
            rate_probe.send(n)
        deadline = started + 40
        while redis_client.llen(STARTS_KEY) < 300 and time.time() < deadline:
            time.sleep(0.1)
        finished = time.time()
    finally:
        stop_worker(worker)

    starts = sorted(float(entry.split()[0]) for entry in redis_client.lrange(STARTS_KEY, 0, -1))
    events = [decode(fields)["type"] for _, fields in redis_client.xrange("imagepipe:events")]
    assert len(starts) == 300
    assert events.count("job-throttled") >= 200  # delayed, each with an event...
    assert "job-failed" not in events and "job-retrying" not in events  # ...never failed or retried
    busiest = busiest_window(starts)
    print(f"busiest 1 s window: {busiest} starts; all started {starts[-1] - started:.2f}s after the first send")
    assert busiest <= 20
    assert starts[-1] - starts[0] <= 1.15 * 299 / 20, f"first to last start {starts[-1] - starts[0]:.2f}s"
    assert finished - started <= 1.15 * 15, f"took {finished - started:.1f}s"
