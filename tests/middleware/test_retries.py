"""PipelineRetries: an exact 2/4/8 s schedule, and no retry for permanent errors (pure logic)."""

import dramatiq
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker

from imagepipe.errors import CorruptImage, TransientError
from middleware import PipelineRetries


class RecordingBroker(StubBroker):
    def __init__(self, **options):
        super().__init__(**options)
        self.delays = []
        self.sent = []

    def enqueue(self, message, *, delay=None):
        if delay is None:
            self.sent.append(message)  # a new message (a callback), not a retry
        else:
            self.delays.append(delay)
        return message


@pytest.fixture
def stub():
    broker = RecordingBroker(middleware=[PipelineRetries(max_retries=3, backoff=2000)])
    actor = dramatiq.actor(lambda image_id: None, actor_name="step", broker=broker)
    return broker, actor


def fail_once(broker, message, exception):
    proxy = MessageProxy(message)
    broker.emit_after("process_message", proxy, exception=exception)
    return proxy


def test_transient_errors_retry_after_exactly_2_4_8_seconds_then_fail(stub):
    broker, actor = stub
    message = actor.message(1)
    proxies = []
    for _ in range(4):
        proxy = fail_once(broker, message, TransientError("database is locked"))
        message = proxy._message.copy(options=proxy.options)
        proxies.append(proxy)

    assert broker.delays == [2000, 4000, 8000]
    assert [p.failed for p in proxies] == [False, False, False, True]


def test_a_permanent_error_fails_without_a_retry(stub):
    broker, actor = stub

    proxy = fail_once(broker, actor.message(1), CorruptImage("image file is truncated"))

    assert proxy.failed
    assert broker.delays == []


def test_throws_still_fails_at_once_on_the_original_exception():
    broker = RecordingBroker(middleware=[PipelineRetries(max_retries=3, backoff=2000)])
    actor = dramatiq.actor(lambda: None, actor_name="thrower", throws=(KeyError,), broker=broker)

    proxy = fail_once(broker, actor.message(), KeyError("missing"))

    assert proxy.failed and broker.delays == []


def test_a_raised_retry_keeps_its_own_delay_and_per_actor_backoff_is_honoured():
    broker = RecordingBroker(middleware=[PipelineRetries(max_retries=3, backoff=2000)])
    actor = dramatiq.actor(lambda: None, actor_name="slow", min_backoff=500, max_backoff=1500, broker=broker)
    message = actor.message()

    for _ in range(3):
        fail_once(broker, message, TransientError("busy"))
    fail_once(broker, actor.message(), dramatiq.Retry(delay=42))

    assert broker.delays == [500, 1000, 1500, 42]


def test_a_permanent_failure_keeps_its_traceback_for_the_dead_letters(stub):
    broker, actor = stub
    try:
        raise CorruptImage("corrupt JPEG data")
    except CorruptImage as error:
        proxy = fail_once(broker, actor.message(1), error)

    assert "CorruptImage: corrupt JPEG data" in proxy.options["traceback"]


def test_on_retry_exhausted_gets_the_limit_that_applied_when_the_actor_set_none():
    """As Dramatiq's Retries does: the middleware's max_retries, not None."""
    broker = RecordingBroker(middleware=[PipelineRetries(max_retries=1, backoff=10)])
    dramatiq.actor(lambda message, info: None, actor_name="exhausted", broker=broker)
    actor = dramatiq.actor(lambda n: None, actor_name="flaky", broker=broker, on_retry_exhausted="exhausted")

    message = actor.message(1)
    for _ in range(2):
        proxy = fail_once(broker, message, TransientError("busy"))
        message = proxy._message.copy(options=proxy.options)

    assert [(m.actor_name, m.args[1]) for m in broker.sent] == [("exhausted", {"retries": 1, "max_retries": 1})]


def test_a_thrown_exception_is_aborted_in_dramatiqs_words(caplog):
    broker = RecordingBroker(middleware=[PipelineRetries(max_retries=3, backoff=10)])
    actor = dramatiq.actor(lambda n: None, actor_name="strict", broker=broker, throws=(ValueError,))

    with caplog.at_level("INFO"):
        proxy = fail_once(broker, actor.message(1), ValueError("no"))

    assert proxy.failed and broker.delays == []
    assert [r.getMessage() for r in caplog.records] == [f"Aborting message {proxy.message_id!r}."]
