"""Dramatiq's test fixtures (its ``tests/conftest.py`` is not in its sdist), on imagepipe's broker.

IMAGEPIPE_SUITE_STACK=1 gives every broker imagepipe's whole middleware stack
(actors.broker.build_middleware) instead of Dramatiq's default middleware, so that Dramatiq's
tests of retries, time limits, callbacks, pipelines and groups run through it. Redis is the
private one ``tests.dramatiq_suite.run`` starts (IMAGEPIPE_SUITE_REDIS_URL): the fixtures
flush it.
"""

import logging
import os
import subprocess
import sys

import dramatiq
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits import backends as rl_backends
from dramatiq.results import backends as res_backends

from actors.broker import build_middleware
from actors.redis_broker import ReconnectingRedisBroker
from imagepipe.settings import get_settings

logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s")
REDIS_URL = os.environ["IMAGEPIPE_SUITE_REDIS_URL"]


def _middleware():
    """None (Dramatiq's defaults), or imagepipe's stack."""
    return build_middleware(get_settings()) if os.environ.get("IMAGEPIPE_SUITE_STACK") else None


@pytest.fixture()
def stub_broker():
    broker = StubBroker(middleware=_middleware())
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture()
def redis_broker():
    broker = ReconnectingRedisBroker(url=REDIS_URL, middleware=_middleware())
    broker.client.flushall()
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.client.flushall()
    broker.close()


@pytest.fixture()
def stub_worker(stub_broker):
    worker = Worker(stub_broker, worker_timeout=100, worker_threads=32)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture()
def redis_worker(redis_broker):
    worker = Worker(redis_broker, worker_threads=32)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def info_logging():
    logger = logging.getLogger()
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(logging.DEBUG)


@pytest.fixture
def start_cli():
    proc = None

    def run(broker_module, *, extra_args=None, **kwargs):
        nonlocal proc
        kwargs.setdefault("bufsize", 0)
        proc = subprocess.Popen([sys.executable, "-m", "dramatiq", broker_module, *(extra_args or [])], **kwargs)
        return proc

    yield run
    if proc is not None:
        proc.terminate()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(params=["redis", "stub"])
def rate_limiter_backend(request):
    if request.param == "stub":
        return rl_backends.StubBackend()
    backend = rl_backends.RedisBackend(client=redis.Redis.from_url(REDIS_URL))
    backend.client.flushall()
    return backend


@pytest.fixture
def redis_result_backend():
    backend = res_backends.RedisBackend(client=redis.Redis.from_url(REDIS_URL))
    backend.client.flushall()
    return backend


@pytest.fixture(params=["redis", "stub"])
def result_backend(request):
    return request.getfixturevalue("redis_result_backend") if request.param == "redis" else res_backends.StubBackend()
