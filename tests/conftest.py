"""Shared fixtures: a real Redis, a real database per test, a real Dramatiq worker.

The environment is set in ``pytest_configure``, before any test module imports ``actors``,
because importing ``actors`` declares the broker from the environment.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from imagepipe.redis_server import PrivateRedis, RedisUnavailable, redis_answers

IN_CI = os.environ.get("CI") == "true"
TEST_POSTGRES_URL = os.environ.get("IMAGEPIPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORKER_TIMEOUT_MS = 100
#: The RabbitMQ the broker parametrisation uses, without a vhost: each run adds one of its own.
TEST_RABBITMQ_URL = os.environ.get("IMAGEPIPE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
S3_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
_session = {}


def pytest_configure(config):
    """Start a private redis-server (or use REDIS_URL) and point the settings at test folders."""
    try:
        redis = PrivateRedis().start()
        _session["redis"] = redis
        url = redis.url
    except RedisUnavailable as error:
        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
        if not redis_answers(url):
            _session["redis_error"] = f"{error}; and nothing answers on {url}"
    media_root = _session["media_root"] = Path(tempfile.mkdtemp(prefix="imagepipe-media-"))
    os.environ.update(
        REDIS_URL=url,
        BROKER_URL=url,
        MEDIA_ROOT=str(media_root),
        DATABASE_URL=f"sqlite:///{media_root / 'imagepipe-test.db'}",
        IMAGEPIPE_RETRY_BACKOFF_MS="100",
        # The suite's many pipeline runs describe with the parts that cost nearly nothing;
        # tests/description runs OCR and faces on purpose (bench/describe.py has their cost).
        IMAGEPIPE_DESCRIBE_PARTS="facts,places",
    )
    os.environ.pop("SENTRY_DSN", None)
    for name in (*S3_VARIABLES, "IMAGEPIPE_STORAGE_URL", "IMAGEPIPE_PUBLIC_URL"):
        os.environ.pop(name, None)


def pytest_unconfigure(config):
    if "redis" in _session:
        _session["redis"].stop()
    if "s3" in _session:
        _session["s3"].stop()
    shutil.rmtree(_session.get("media_root", ""), ignore_errors=True)


def need(service_error):
    """Skip a test whose service is missing when run by hand; fail it under CI=true."""
    if service_error:
        if IN_CI:
            pytest.fail(service_error)
        pytest.skip(service_error)


@pytest.fixture(scope="session")
def redis_url():
    need(_session.get("redis_error"))
    return os.environ["REDIS_URL"]


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def settings():
    from imagepipe.settings import get_settings

    return get_settings()


@pytest.fixture
def media_root(tmp_path):
    """A fresh MEDIA_ROOT for one test: image ids restart with each test's database, and so
    would their variant folders."""
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def s3_server():
    """A private SeaweedFS for the session (started on first use); its credentials become the
    process's AWS_* variables, as a deployment's would be."""
    from imagepipe.s3_server import PrivateS3, S3Unavailable

    if "s3" not in _session:
        try:
            _session["s3"] = PrivateS3().start()
        except S3Unavailable as error:
            _session["s3_error"] = str(error)
    need(_session.get("s3_error"))
    os.environ.update(_session["s3"].env)
    return _session["s3"]


@pytest.fixture(params=["local", "s3"])
def storage(request, media_root):
    """The process's storage for one test: MEDIA_ROOT on disk, or a fresh prefix of a real
    S3 bucket (SeaweedFS); every test that stores images runs with both."""
    from imagepipe.storage import LocalStorage, bind_storage, open_storage

    if request.param == "local":
        store = LocalStorage(media_root)
    else:
        server = request.getfixturevalue("s3_server")
        store = open_storage(f"s3://{server.bucket}/test-{uuid.uuid4().hex[:12]}")
    bind_storage(store)
    yield store
    bind_storage(None)


def _postgres_database():
    """A fresh PostgreSQL database for one test, or a skip reason when none is reachable."""
    import psycopg2

    name = f"imagepipe_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(TEST_POSTGRES_URL, connect_timeout=2)
    except psycopg2.OperationalError as error:
        return None, None, f"PostgreSQL not reachable at {TEST_POSTGRES_URL}: {error}".strip()
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()
    url = TEST_POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    def drop():  # on a connection of its own: a test may have restarted PostgreSQL
        admin = psycopg2.connect(TEST_POSTGRES_URL, connect_timeout=10)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    return url, drop, None


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path):
    """A fresh, migrated database: SQLite always; PostgreSQL where a test asks for it and one runs."""
    from models import bind_database, database, migrate_schema

    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'imagepipe.db'}"
    else:
        url, drop, reason = _postgres_database()
        if reason:
            pytest.skip(reason)  # PostgreSQL is optional: tests run where only redis-server exists
    bind_database(url)
    migrate_schema()
    yield url
    if not database.is_closed():
        database.close()
    if drop:
        drop()


with_postgres = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(scope="session")
def rabbitmq_url():
    """A vhost of this run's own on the local RabbitMQ, deleted after the run; its URL."""
    control = shutil.which("rabbitmqctl")
    need(None if control else "rabbitmqctl is not installed (apt-get install rabbitmq-server)")
    vhost = f"imagepipe-test-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run([control, "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
        subprocess.run([control, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
    except (subprocess.SubprocessError, OSError) as error:
        need(f"cannot add a RabbitMQ vhost: {error}")
    yield f"{TEST_RABBITMQ_URL}/{vhost}"
    subprocess.run([control, "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(params=["redis"])
def broker_url(request, redis_url):
    """The broker of this test's workers: the test Redis, or RabbitMQ (``with_rabbitmq``), which
    the actors of this process then send to as well."""
    if request.param == "redis":
        yield redis_url
        return
    url = request.getfixturevalue("rabbitmq_url")
    with sending_to_rabbitmq(url):
        yield url


with_rabbitmq = pytest.mark.parametrize("broker_url", ["redis", "rabbitmq"], indirect=True)


@contextlib.contextmanager
def sending_to_rabbitmq(url):
    """Every actor of this process sends to the RabbitMQ at ``url`` (its queues emptied first),
    as an app whose BROKER_URL is that URL would; yields that broker."""
    import pika
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    import actors

    rabbitmq = RabbitmqBroker(url=url, middleware=[])
    senders = {actor: actor.broker for actor in actors.broker.actors.values()}
    for actor in senders:
        rabbitmq.declare_queue(actor.queue_name, ensure=True)
        actor.broker = rabbitmq
    rabbitmq.flush_all()
    try:
        yield rabbitmq
    finally:
        for actor, broker in senders.items():
            actor.broker = broker
        with contextlib.suppress(pika.exceptions.AMQPError):  # a test may have restarted RabbitMQ
            rabbitmq.close()


@pytest.fixture
def worker_env(redis_url, broker_url, database_url, media_root, storage):
    """The environment of a `dramatiq` subprocess sharing this test's Redis, broker, database
    and storage."""
    return {
        "REDIS_URL": redis_url,
        "BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        **storage_env(storage),
    }


def storage_env(storage):
    """What another process needs to open ``storage``: its URL, and a bucket's credentials."""
    credentials = {name: os.environ[name] for name in S3_VARIABLES if name in os.environ}
    return {"IMAGEPIPE_STORAGE_URL": storage.address, **(credentials if storage.scheme == "s3" else {})}


@pytest.fixture
def broker(redis_client, database_url):
    """The pipeline's broker on the test Redis, emptied before the test."""
    import actors

    actors.broker.flush_all()
    return actors.broker


@pytest.fixture
def worker(broker, database_url, storage):
    """A real in-process Dramatiq worker on the real Redis broker."""
    import dramatiq

    worker = dramatiq.Worker(broker, worker_timeout=WORKER_TIMEOUT_MS, worker_threads=4)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def corpus():
    """The corpus of real images (read-only): tests/corpus, or IMAGEPIPE_CORPUS."""
    path = Path(os.environ.get("IMAGEPIPE_CORPUS") or Path(__file__).resolve().parent / "corpus")
    if not path.is_dir():
        need(f"image corpus not found at {path} (set IMAGEPIPE_CORPUS)")
    return path


@pytest.fixture(scope="session")
def _standin_server():
    from tests.openai_standin import StandIn

    with StandIn() as server:
        yield server


@pytest.fixture
def openai_standin(_standin_server):
    """The OpenAI stand-in (tests/openai_standin.py), one process for the session, with no
    scripted reply and no request recorded."""
    _standin_server.reset()
    yield _standin_server
    _standin_server.reset()


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never answers: a service blackholed or hung."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]
