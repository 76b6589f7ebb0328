"""Worker heartbeats under the real `dramatiq` runner, read by `imagepipe health`."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from imagepipe.graph import PIPELINE
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from tests.helpers import finish, submit


def health(env):
    return subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", "health", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.timeout(90)
def test_live_workers_report_their_counts_and_killed_ones_turn_stale(redis_client, worker_env, storage, tmp_path):
    env = {
        **worker_env,
        "IMAGEPIPE_HEARTBEAT_INTERVAL_S": "0.5",
    }
    worker = start_worker(env, processes=2, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        image_id = submit(storage, save_jpeg(make_photo(800, 600, seed=2), tmp_path / "a.jpg"))
        finish([image_id])
        time.sleep(1.2)  # a heartbeat after the work
        alive = health(env)

        os.killpg(worker.pid, signal.SIGKILL)  # the whole dyno dies: no clean shutdown
        worker.wait()
        time.sleep(2)
        dead = health(env)
    finally:
        stop_worker(worker)

    workers = [json.loads(line) for line in alive.stdout.splitlines()]
    assert alive.returncode == 0
    assert len(workers) == 2 and not any(w["stale"] for w in workers)
    assert sum(w["processed"] for w in workers) == len(PIPELINE.names)  # the image's steps
    assert all(20_000_000 < w["rss_bytes"] < 2_000_000_000 for w in workers)  # a worker process's memory
    assert all("images" in w["queues"] for w in workers)
    assert dead.returncode == 1
    assert all(json.loads(line)["stale"] for line in dead.stdout.splitlines())


def test_a_cleanly_stopped_worker_leaves_no_heartbeat(redis_client, redis_url, database_url):
    env = {
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        "DATABASE_URL": database_url,
        "IMAGEPIPE_HEARTBEAT_INTERVAL_S": "0.5",
    }
    worker = start_worker(env, processes=1, threads=1, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not redis_client.zcard("imagepipe:workers") and time.monotonic() < deadline:
        time.sleep(0.1)

    assert stop_worker(worker) == 0
    assert health(env).stdout == ""
    assert health(env).returncode == 1
