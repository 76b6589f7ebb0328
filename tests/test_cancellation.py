"""Cancelling a running image with `imagepipe cancel`, under a real `dramatiq` worker, and
sending it again with `imagepipe retry`."""

import json
import os
import subprocess
import sys
import time

from imagepipe.event_stream import decode
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import DeadLetter, Image, Step, step_timeline
from tests.helpers import finish, start_test_worker, submit, wait_until
from tests.worker_app import SLOW_STARTS_KEY

STREAM = "imagepipe:events"


def imagepipe(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", *args], env={**os.environ, **env}, capture_output=True, text=True
    )


def test_a_cancel_stops_the_running_step_at_its_isolation_wait_and_a_retry_completes_it(
    redis_client, worker_env, storage, tmp_path
):
    marker = tmp_path / "slow"
    marker.touch()  # the metadata step's decode takes 60 s while it exists (tests.worker_app)
    env = {**worker_env, "IMAGEPIPE_TEST_SLOW_MARKER": str(marker)}
    worker = start_test_worker(env, processes=1, threads=1)  # one thread: the next image waits for it
    try:
        slow = submit(storage, save_jpeg(make_photo(900, 600, seed=1), tmp_path / "slow.jpg"))
        wait_until(lambda: redis_client.llen(SLOW_STARTS_KEY) == 1, 30, "the slow step to start")

        # A client that polls sees where it is: the progress kept while the decode runs.
        def progress():
            return step_timeline(slow)["progress"] or {}

        wait_until(lambda: progress().get("step") == "metadata", 10, lambda: f"metadata's progress, not {progress()}")
        assert (progress()["percent"], progress()["note"]) == (10, "reading")

        cancelled = imagepipe(env, "cancel", str(slow), "999999")
        marker.unlink()
        stopped = time.monotonic()
        after = submit(storage, save_jpeg(make_photo(640, 480, seed=2), tmp_path / "after.jpg"))
        assert finish([after], timeout_s=30)[after].status == "completed"
        freed_after_s = time.monotonic() - stopped
        heartbeats = {name.decode() for name in redis_client.zrange("imagepipe:workers", 0, -1)}
    finally:
        code = stop_worker(worker)

    # The CLI says what it did and what it could not; the one thread was free again at once.
    assert cancelled.returncode == 1
    assert cancelled.stdout.strip() == f"cancelled 1 image(s): {slow}"
    assert "no image with id 999999" in cancelled.stderr
    print(f"FIGURE cancel: the next image completed {freed_after_s:.1f}s after the cancel (the decode had 60 s left)")
    assert freed_after_s < 20
    assert code == 0

    timeline = {step["name"]: step for step in step_timeline(slow)["steps"]}
    assert Image.get_by_id(slow).status == "cancelled"
    assert timeline["metadata"]["status"] == "cancelled" and timeline["embed"]["status"] == "cancelled"
    assert timeline["ingest"]["status"] == "done"
    assert timeline["ingest"]["worker"] in heartbeats  # the worker process, as its heartbeat names it
    assert not DeadLetter.select().exists()  # a cancel is no failure
    events = [decode(fields) for _, fields in redis_client.xrange(STREAM)]
    assert [e["image_id"] for e in events if e["type"] == "image-cancelled"] == [slow]
    assert not [e for e in events if e["type"] in ("job-failed", "image-failed")]

    # Sent again, it goes on from where it stopped.
    retried = imagepipe(env, "retry", str(slow))
    assert retried.returncode == 0, retried.stderr
    worker = start_test_worker(env, processes=1, threads=2)
    try:
        assert finish([slow], timeout_s=60)[slow].status == "completed"
    finally:
        stop_worker(worker)
    steps = {row.name: row for row in Step.select().where(Step.image == slow)}
    assert (steps["ingest"].attempts, steps["metadata"].attempts) == (1, 2)
    assert imagepipe(env, "retry", str(slow)).stderr.strip().endswith("is not cancelled: nothing to retry")


def test_status_shows_each_step_with_its_worker(redis_client, worker_env, storage, tmp_path):
    worker = start_test_worker(worker_env, processes=1, threads=2)
    try:
        image_id = submit(storage, save_jpeg(make_photo(640, 480, seed=3), tmp_path / "a.jpg"))
        assert finish([image_id], timeout_s=60)[image_id].status == "completed"
        pid = worker.pid
    finally:
        stop_worker(worker)

    shown = imagepipe(worker_env, "status", str(image_id))
    as_json = json.loads(imagepipe(worker_env, "status", str(image_id), "--json").stdout)

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header = next(line for line in lines if line.startswith("step"))
    assert header.split() == ["step", "status", "attempts", "started", "duration", "worker", "error"]
    assert sum(line.split()[1] == "done" for line in lines[lines.index(header) + 2 :]) == len(as_json["steps"])
    workers = {step["worker"] for step in as_json["steps"]}
    assert len(workers) == 1 and not workers & {None, f"{os.uname().nodename}:{pid}"}  # a child of the master
    assert all(step["duration_ms"] is not None and step["attempts"] == 1 for step in as_json["steps"])
