"""/livez, /readyz and /healthz on a real server, against real Redis, PostgreSQL ports and workers."""

import os
import signal
import subprocess
import time

import pytest

from imagepipe.redis_server import free_port
from imagepipe.worker_process import start_worker, stop_worker
from middleware.health import STALE_AFTER_INTERVALS
from models import bind_database

# The probes never touch the storage: one storage is enough.
pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)

#: What a probe may take with a dead or silent service (the checks give up at 2.5 s).
PROBE_BOUND_S = 3.0
ALL_OK = {"status": "ok", "checks": {"database": "ok", "broker": "ok", "workers": "ok"}}


def probe(client, path="/readyz"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def test_livez_answers_while_every_service_is_down(serve):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    api = serve(broker_url=dead, redis_url=dead, events_redis_url=dead)
    response = api.get("/livez")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert api.get("/readyz").status_code == 503  # while readiness, on the same server, fails


def test_without_a_worker_readyz_names_the_workers(serve, settings):
    api = serve()
    response, _ = probe(api)
    window = STALE_AFTER_INTERVALS * settings.heartbeat_interval_s
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "broker": "ok",
            "workers": f"FAILED: no worker heartbeat in the last {window:g} s",
        },
    }
    alias = api.get("/healthz")
    assert (alias.status_code, alias.json()) == (503, response.json())


def test_a_worker_process_makes_it_ready_and_a_killed_one_unready(serve, worker_env, redis_client):
    # given a real `dramatiq` worker beating every 0.5 s, and a server that expects that interval
    api = serve(heartbeat_interval_s=0.5)
    env = {**worker_env, "IMAGEPIPE_HEARTBEAT_INTERVAL_S": "0.5"}
    worker = start_worker(env, processes=1, threads=1, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # when its first heartbeat is written, the server is ready
        deadline = time.monotonic() + 30
        while (ready := api.get("/readyz")).status_code != 200:
            assert worker.poll() is None and time.monotonic() < deadline, ready.text
            time.sleep(0.1)
        assert ready.json() == ALL_OK
        assert api.get("/healthz").json() == ALL_OK
        # when the worker dies without a clean stop, its heartbeat turns stale (3 × 0.5 s)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        time.sleep(STALE_AFTER_INTERVALS * 0.5 + 0.5)
        unready = api.get("/readyz")
    finally:
        stop_worker(worker)
    # then the server is no longer ready, and says why
    assert unready.status_code == 503
    assert unready.json()["checks"] == {
        "database": "ok",
        "broker": "ok",
        "workers": "FAILED: no worker heartbeat in the last 1.5 s",
    }


def test_probes_need_no_token_but_the_api_still_does(serve, worker):
    api = serve(api_token="s3cret")
    assert api.get("/images").status_code == 401
    assert api.get("/livez").json() == {"status": "ok"}
    for path in ("/readyz", "/healthz"):
        response = api.get(path)
        assert (response.status_code, response.json()) == (200, ALL_OK), path


@pytest.mark.parametrize("service", ["refused", "silent"])
def test_an_unreachable_database_is_named_without_its_password(request, serve, worker, database_url, service):
    api = serve()
    # the app's database (the one its routes use) becomes a PostgreSQL where nothing listens,
    # or one that never answers (no socket timeout of its own: the probe's bound ends the wait)
    port = request.getfixturevalue("silent_port") if service == "silent" else free_port()
    bind_database(f"postgresql://u:secretpw@127.0.0.1:{port}/x")
    try:
        response, took = probe(api)
        alias = api.get("/healthz")
    finally:
        bind_database(database_url)
    checks = response.json()["checks"]
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    expected = "refused" if service == "refused" else "FAILED: no answer within 2.5 s"
    assert checks["database"].startswith("FAILED: ") and expected in checks["database"]
    assert (checks["broker"], checks["workers"]) == ("ok", "ok")
    assert b"secretpw" not in response.content and took < PROBE_BOUND_S
    assert (alias.status_code, alias.json()) == (503, response.json())


@pytest.mark.parametrize("service", ["refused redis", "silent redis", "refused amqp"])
def test_an_unreachable_broker_is_named_within_the_bound(request, serve, worker, service):
    port = request.getfixturevalue("silent_port") if service.startswith("silent") else free_port()
    scheme = "amqp" if service.endswith("amqp") else "redis"
    api = serve(broker_url=f"{scheme}://user:secretpw@127.0.0.1:{port}/x")
    response, took = probe(api)
    checks = response.json()["checks"]
    assert response.status_code == 503, response.text
    assert checks["broker"].startswith("FAILED: ") and (checks["database"], checks["workers"]) == ("ok", "ok")
    assert b"secretpw" not in response.content
    assert took < PROBE_BOUND_S


def test_a_dead_heartbeat_redis_fails_the_workers_within_the_bound(serve, worker, silent_port):
    # the Redis that holds the heartbeats hangs, while the broker (the test Redis) answers
    api = serve(redis_url=f"redis://:secretpw@127.0.0.1:{silent_port}/0")
    response, took = probe(api)
    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["workers"].startswith("FAILED: ") and (checks["database"], checks["broker"]) == ("ok", "ok")
    assert b"secretpw" not in response.content and took < PROBE_BOUND_S


def test_a_rabbitmq_broker_that_answers_is_ok(serve, worker, rabbitmq_url):
    response = serve(broker_url=rabbitmq_url).get("/readyz")
    assert (response.status_code, response.json()) == (200, ALL_OK)
