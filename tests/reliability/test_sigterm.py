"""SIGTERM under the real `dramatiq` runner (ShutdownTimeouts): no job lost, no overrun."""

import os
import signal
import time

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import Image, Step
from tests.conftest import with_rabbitmq
from tests.helpers import finish, queued_messages, start_test_worker, submit, wait_until
from tests.worker_app import SLOW_STARTS_KEY


@pytest.mark.timeout(120)
@with_rabbitmq
@pytest.mark.parametrize("target", ["master", "process group"])
def test_sigterm_interrupts_a_60s_job_after_5s_and_the_next_worker_completes_it(
    redis_client, worker_env, storage, tmp_path, target
):
    """SIGTERM to the master, or to every process as a Procfile platform does (the children
    then get it twice): out within 7 s, the job requeued and completed once by the next worker."""
    marker = tmp_path / "slow"
    marker.touch()
    env = {
        **worker_env,
        "IMAGEPIPE_SHUTDOWN_TIMEOUT_S": "5",
        "IMAGEPIPE_TEST_SLOW_MARKER": str(marker),
    }
    worker_options = {"processes": 2, "threads": 2, "extra_args": ["--worker-shutdown-timeout", "6500"]}
    first = start_test_worker(env, **worker_options)
    image_id = submit(storage, save_jpeg(make_photo(900, 600, seed=1), tmp_path / "slow.jpg"))
    try:
        wait_until(lambda: redis_client.llen(SLOW_STARTS_KEY) == 1, 30, "the slow step to start")

        # when: the platform stops the worker while the 60 s job runs
        signalled = time.monotonic()
        if target == "master":
            first.send_signal(signal.SIGTERM)
        else:
            os.killpg(first.pid, signal.SIGTERM)
        first.wait(timeout=15)
        exited_after = time.monotonic() - signalled
    finally:
        stop_worker(first)

    # then: the whole process tree is gone within 7 s, and the job is back on the queue
    print(f"FIGURE fault3: the worker exited {exited_after:.1f}s after SIGTERM to the {target} (shutdown timeout 5 s)")
    assert exited_after < 7, f"took {exited_after:.1f}s"
    assert first.returncode == 0
    assert Image.get_by_id(image_id).status == "processing"

    marker.unlink()
    second = start_test_worker(env, **worker_options)
    try:
        image = finish([image_id], timeout_s=60)[image_id]
    finally:
        stop_worker(second)

    assert image.status == "completed", image.error
    metadata = Step.get(Step.image == image_id, Step.name == "metadata")
    assert (metadata.status, metadata.attempts) == ("done", 2)  # interrupted once, then done
    assert queued_messages("images", "encode", dead=True) == 0  # none failed


@pytest.mark.timeout(90)
@with_rabbitmq
def test_an_actors_shutdown_timeout_is_in_milliseconds_like_dramatiqs(redis_client, worker_env, tmp_path):
    """shutdown_timeout=3000 under plain `dramatiq` means 3 s: SIGTERM during the job, out
    within 8 s, and the job completes once on the next worker."""
    from tests.worker_app import LONG_JOB_KEY, long_job

    marker = tmp_path / "long"
    marker.touch()
    env = {**worker_env, "IMAGEPIPE_TEST_LONG_JOB_MARKER": str(marker)}
    first = start_test_worker(env, processes=1, threads=2)
    try:
        long_job.send(1)
        wait_until(lambda: redis_client.llen(LONG_JOB_KEY) == 1, 30, "the long job to start")
        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)
        exited_after = time.monotonic() - signalled
    finally:
        stop_worker(first)
    marker.unlink()
    second = start_test_worker(env, processes=1, threads=2)
    try:
        wait_until(lambda: redis_client.llen(LONG_JOB_KEY) == 3, 30, "the job to run again and end")
        time.sleep(1)  # nothing else comes
    finally:
        stop_worker(second)

    entries = [entry.decode().split()[0] for entry in redis_client.lrange(LONG_JOB_KEY, 0, -1)]
    print(f"FIGURE shutdown-ms: shutdown_timeout=3000 job interrupted; worker out {exited_after:.1f}s after SIGTERM")
    assert exited_after < 8, f"took {exited_after:.1f}s"
    assert entries == ["started", "started", "done"]
