"""``GET /api/queues`` and ``GET /api/workers`` on a real uvicorn server, against the real broker."""

import time

import pytest

from tests.test_queues_view import fill

local_storage = pytest.mark.parametrize("storage", ["local"], indirect=True)
#: The ready messages of the timing figure (the issue's 10k).
MANY = 10_000


@local_storage
def test_the_queue_figures_as_json_behind_the_token(serve, broker):
    fill(broker)
    api = serve(api_token="secret")

    refused = api.get("/api/queues")
    answer = api.get("/api/queues", headers={"Authorization": "Bearer secret"})

    assert refused.status_code == 401
    assert answer.status_code == 200
    body = answer.json()
    assert body["broker"] == "redis" and isinstance(body["measured_at"], float)
    images = body["queues"][1]
    assert (images["name"], images["ready"], images["delayed"], images["in_flight"]) == ("images", 4, 2, 1)
    assert (images["broker_dead"], images["dead_letters"]) == (1, 2)
    assert images["in_flight_by_worker"] == [
        {"broker_id": broker.broker_id, "worker": None, "in_flight": 1, "alive": True}
    ]


@local_storage
def test_the_workers_as_json_with_stale_ones_flagged(serve, broker, redis_client):
    from middleware.health import WORKER_KEY_PREFIX, WORKERS_KEY

    # given: the heartbeat of a worker silent for 100 intervals, as WorkerHealth left it
    then = time.time() - 100
    fields = {"active": 0, "processed": 5, "failed": 1, "host": "h", "pid": 7, "started": then - 10}
    fields |= {"last_seen": then, "interval": 1, "queues": "images", "broker_id": "b"}
    redis_client.hset(WORKER_KEY_PREFIX + "h:7", mapping=fields)
    redis_client.zadd(WORKERS_KEY, {"h:7": then})
    api = serve(api_token="secret")

    body = api.get("/api/workers", headers={"Authorization": "Bearer secret"}).json()

    (worker,) = body["workers"]
    assert (body["healthy"], body["stale"]) == (0, 1)
    assert worker["stale"] is True and worker["in_flight"] == 0
    assert (worker["host"], worker["pid"], worker["processed"], worker["failed"]) == ("h", 7, 5, 1)
    assert 109 < worker["uptime_s"] < 120 and 99 < worker["age_s"] < 110


@local_storage
@pytest.mark.timeout(120)
def test_time_to_answer_with_10k_ready_messages(serve, broker):
    """Not the bench (bench/ has it): a rough figure, and a bound that only a regression breaks."""
    from actors import ingest

    with broker.client.pipeline(transaction=False) as pipe:
        message = ingest.message(1)
        for n in range(MANY):
            pipe.hset("dramatiq:images.msgs", f"id{n}", message.encode())
            pipe.rpush("dramatiq:images", f"id{n}")
        pipe.execute()
    api = serve()
    api.get("/api/queues")  # warm: the pool's first connection

    times = []
    for _ in range(50):
        started = time.perf_counter()
        body = api.get("/api/queues").json()
        times.append(time.perf_counter() - started)

    times.sort()
    p50, slowest = times[25] * 1000, times[-1] * 1000
    print(f"FIGURE operations: GET /api/queues with {MANY} ready: p50 {p50:.1f} ms, max {slowest:.1f} ms")
    assert body["queues"][1]["ready"] == MANY
    assert times[25] < 0.5


@local_storage
def test_prometheus_scrapes_the_gauges_with_its_bearer_token(serve, broker):
    from prometheus_client.parser import text_string_to_metric_families

    fill(broker)
    api = serve(api_token="secret", prometheus=True)

    refused = api.get("/metrics")
    answer = api.get("/metrics", headers={"Authorization": "Bearer secret"})

    assert refused.status_code == 401
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, sample.labels.get("queue")): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    assert samples["imagepipe_queue_ready_messages", "images"] == 4
    assert samples["imagepipe_queue_delayed_messages", "images"] == 2
    assert samples["imagepipe_queue_dead_messages", "images"] == 2
    assert 0 <= samples["imagepipe_queue_oldest_ready_age_seconds", "images"] < 60


@local_storage
def test_metrics_are_off_unless_asked_for(serve, broker):
    answer = serve(prometheus=False).get("/metrics")

    assert answer.status_code == 404 and "IMAGEPIPE_PROMETHEUS" in answer.json()["error"]
