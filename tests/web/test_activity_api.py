"""``GET /api/activity`` and ``GET /api/rate-limits`` on a real uvicorn server, with the counts and
slots that a real `dramatiq` worker left in the real Redis."""

import time

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from middleware.rate_limit import HOLD_SCRIPT, HOLD_SUFFIX, KEY_PREFIX
from models import DeadLetter, Step
from tests.helpers import finish, start_test_worker, submit, wait_until

local_storage = pytest.mark.parametrize("storage", ["local"], indirect=True)
#: The metadata step's budget in the rate-limit test: 3 starts in any 10 s.
METADATA_LIMIT = "3/10s"


@local_storage
@pytest.mark.timeout(120)
def test_a_real_workers_steps_and_images_show_in_the_last_minute(
    serve, worker_env, storage, corpus, settings, tmp_path
):
    api = serve()
    worker = start_test_worker(worker_env, processes=1, threads=2)
    try:
        # when: a real worker runs two good images and one corrupt file
        good = [submit(storage, save_jpeg(make_photo(640, 480, seed=n), tmp_path / f"{n}.jpg")) for n in (1, 2)]
        bad = submit(storage, corpus / "bad" / "empty.png")
        rows = finish([*good, bad])
        assert [rows[i].status for i in (*good, bad)] == ["completed", "completed", "failed"]

        # then: the last hour holds their steps and their ends, in the shape of the contract
        def ended():
            minutes = api.get("/api/activity").json()["minutes"]
            return sum(m["images_completed"] for m in minutes) == 2 and sum(m["images_failed"] for m in minutes) == 1

        wait_until(ended, 10, lambda: api.get("/api/activity").json())
        body = api.get("/api/activity").json()
    finally:
        stop_worker(worker)

    assert (body["window_s"], body["bucket_s"], len(body["minutes"])) == (3600, 60, 60)
    now = time.time()
    assert now - 60 < body["minutes"][-1]["start"] <= now
    assert sum(m["completed"] for m in body["minutes"]) == 2 * 5  # every step of the two good images
    assert sum(m["failed"] for m in body["minutes"]) == 1  # the corrupt file's ingest, not retried
    steps = {step["step"]: step for step in body["steps"]}
    assert list(steps) == ["ingest", "variants", "metadata", "embed", "describe"]
    assert (steps["ingest"]["completed"], steps["ingest"]["failed"]) == (2, 1)
    for step in steps.values():
        assert step["completed"] == 2
        assert 0 < step["p50_ms"] <= step["p95_ms"] < 120_000


@local_storage
@pytest.mark.timeout(120)
def test_rate_limit_slots_a_real_worker_reserved_and_a_hold(serve, worker_env, storage, redis_client, tmp_path):
    overrides = {"extract_metadata": METADATA_LIMIT}
    api = serve(rate_limits=overrides)
    assert api.get("/api/rate-limits").json() == {
        "keys": [{"key": "extract_metadata", "limit": 3, "period_ms": 10_000, "used": 0, "held_until": None}]
    }
    env = {**worker_env, "IMAGEPIPE_RATE_LIMITS": f"extract_metadata={METADATA_LIMIT}"}
    worker = start_test_worker(env, processes=1, threads=4)
    try:
        # when: five images' metadata steps draw on a budget of 3 in 10 s
        ids = [submit(storage, save_jpeg(make_photo(320, 240, seed=n), tmp_path / f"{n}.jpg")) for n in range(5)]

        # then: three slots are used, the other two wait for the next window
        def used():
            return api.get("/api/rate-limits").json()["keys"][0]["used"]

        wait_until(lambda: used() == 3, 30, lambda: api.get("/api/rate-limits").json())
        started = Step.select().where(Step.image.in_(ids), Step.name == "metadata", Step.attempts > 0).count()
        assert started <= 3
        assert redis_client.zcard(KEY_PREFIX + "extract_metadata") == 5  # every message holds a slot

        # when: the API behind the budget answers 429, retry after 5 s (as RateLimits holds it)
        redis_client.eval(HOLD_SCRIPT, 1, KEY_PREFIX + "extract_metadata" + HOLD_SUFFIX, 5_000)
        (key,) = api.get("/api/rate-limits").json()["keys"]
    finally:
        stop_worker(worker)

    assert (key["key"], key["limit"], key["period_ms"]) == ("extract_metadata", 3, 10_000)
    assert time.time() + 3 < key["held_until"] <= time.time() + 5


@local_storage
def test_the_describe_budget_and_an_override_of_embed_are_listed_by_their_keys(serve, settings):
    api = serve(describer="openai", rate_limits={"embed": "20/s"})

    keys = api.get("/api/rate-limits").json()["keys"]

    assert [(k["key"], k["limit"], k["period_ms"]) for k in keys] == [
        ("embedding-api", 20, 1000),
        ("describe-api", 10, 60_000),
    ]


@local_storage
def test_latest_failures_name_their_step_image_error_time_and_replay_link(serve):
    """What the operations page's "latest failures" list links from: GET /dead-letters?limit=."""
    fields = {"queue": "encode", "message": "{}", "error_type": "EncodeError", "traceback": "", "attempts": 4}
    older = DeadLetter.create(message_id="a", actor="make_variants", image_id=7, error="too big", **fields)
    newer = DeadLetter.create(message_id="b", actor="rate_probe", image_id=None, error="boom", **fields)
    api = serve()

    rows = api.get("/dead-letters?limit=20").json()["dead_letters"]

    assert [(r["id"], r["actor"], r["step"], r["image_id"], r["error"]) for r in rows] == [
        (newer.id, "rate_probe", None, None, "boom"),
        (older.id, "make_variants", "variants", 7, "too big"),
    ]
    assert rows[1]["failed_at"].endswith("Z") and rows[1]["replay"] == f"/dead-letters/{older.id}/replay"
    assert len(api.get("/dead-letters?limit=1").json()["dead_letters"]) == 1
