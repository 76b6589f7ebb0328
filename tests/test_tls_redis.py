"""Managed Redis over TLS (``rediss://``), against a real TLS-only redis-server whose
certificates openssl makes here: a CA of its own, as managed services' self-signed ones are."""

import subprocess
import sys

import pytest
import redis

from imagepipe.cli.process import wait_for
from imagepipe.event_stream import decode
from imagepipe.redis_server import PrivateRedis
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from middleware.health import WORKERS_KEY
from middleware.sweeper import LOCK_KEY
from models import Image, bind_database
from tests.helpers import send_with_cli, start_test_worker, wait_until


def _openssl(*arguments, cwd):
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A TLS-only redis-server with a certificate for 127.0.0.1 signed by a CA made for it."""
    folder = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=folder)  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "san.cnf", "-out", "server.pem", cwd=folder)  # fmt: skip
    with PrivateRedis(tls=(folder / "server.pem", folder / "server.key", folder / "ca.pem")) as server:
        yield server


def _plain_url(server):
    """The server's rediss:// URL without the query that trusts its CA."""
    return server.url.split("?", 1)[0]


def test_certificates_are_checked_by_default_and_the_query_option_relaxes_them(tls_redis):
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(_plain_url(tls_redis)).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(_plain_url(tls_redis).replace("rediss://", "redis://")).ping()

    assert redis.Redis.from_url(tls_redis.url).ping()  # ?ssl_ca_certs=ca.pem: checked against the CA
    assert redis.Redis.from_url(_plain_url(tls_redis) + "?ssl_cert_reqs=none").ping()


def test_imagepipe_check_names_an_untrusted_certificate(tls_redis, tmp_path):
    env = {"REDIS_URL": _plain_url(tls_redis), "BROKER_URL": _plain_url(tls_redis),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}", "MEDIA_ROOT": str(tmp_path)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "imagepipe.cli", "check"], env=env, capture_output=True, text=True)

    assert done.returncode == 1
    assert "certificate verify failed" in done.stdout, done.stdout


@pytest.mark.timeout(120)
def test_broker_events_limiter_heartbeats_and_sweeper_work_over_tls(tls_redis, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'tls.db'}"
    env = {
        "REDIS_URL": tls_redis.url,
        "BROKER_URL": tls_redis.url,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "IMAGEPIPE_RATE_LIMITS": "embed=1/s",  # three images: two embeds wait in the delay queue
        "IMAGEPIPE_SWEEP_INTERVAL_S": "1",
        "IMAGEPIPE_HEARTBEAT_INTERVAL_S": "1",
    }
    client = redis.Redis.from_url(tls_redis.url)
    client.flushall()
    subprocess.run([sys.executable, "-m", "imagepipe.cli", "migrate"], env=env, check=True, capture_output=True)
    photos = [save_jpeg(make_photo(400, 300, seed=n), tmp_path / f"p{n}.jpg") for n in range(3)]
    worker = start_test_worker(env, processes=1, threads=4)
    try:
        ids = send_with_cli(photos, env)
        bind_database(database_url)
        assert wait_for(ids, 60, report=lambda line: None)
        wait_until(lambda: client.exists(LOCK_KEY), 10, "the sweeper to take its lock")
        heartbeats = client.zcard(WORKERS_KEY)
    finally:
        assert stop_worker(worker) == 0

    assert Image.select().where(Image.id.in_(ids), Image.status == Image.COMPLETED).count() == 3
    events = [decode(fields)["type"] for _, fields in client.xrange("imagepipe:events")]
    assert events.count("image-completed") == 3
    assert events.count("job-throttled") >= 1  # the limiter's counters are on rediss:// too (they expire)
    assert heartbeats >= 1
