"""Worker processes whose main `dramatiq` process was SIGKILLed stop by themselves."""

import os
import signal
import subprocess

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import Image
from tests.helpers import finish, submit, wait_until
from tests.reliability.supervision import alive, child_pids
from tests.worker_app import CHATTY_KEY, chatty


@pytest.fixture
def orphan_killer():
    """Kills whatever worker processes a test leaves, so a failed test cannot leave orphans."""
    left = []
    yield left
    for pid in left:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(60)
def test_idle_worker_processes_stop_when_their_main_process_is_killed(worker_env, media_root, tmp_path, orphan_killer):
    main = start_worker(worker_env, processes=2, threads=1)
    try:
        wait_until(lambda: len(child_pids(main.pid)) == 2, 30, "two worker processes")
        orphan_killer += child_pids(main.pid)
        image_id = submit(media_root, save_jpeg(make_photo(320, 240), tmp_path / "before.jpg"))
        assert finish([image_id], timeout_s=30)[image_id].status == Image.COMPLETED

        os.kill(main.pid, signal.SIGKILL)
        main.wait()

        wait_until(lambda: not any(map(alive, orphan_killer)), 10, "the orphaned worker processes to stop")
    finally:
        stop_worker(main)


@pytest.mark.timeout(60)
def test_worker_processes_still_booting_when_their_main_process_is_killed_stop_too(worker_env, orphan_killer):
    """Killed right after the fork: by the time a worker process has booted, its parent pid
    is already another process's, so the watch must know the main process from the fork; and
    a worker process may be stuck for good on a lock the main process held, so it must exit
    when it has not stopped in time (here 2 s + 5 s)."""
    main = start_worker({**worker_env, "IMAGEPIPE_SHUTDOWN_TIMEOUT_S": "2"}, processes=2, threads=1)
    try:
        wait_until(lambda: child_pids(main.pid), 30, "a worker process")
        orphan_killer += child_pids(main.pid)
        os.kill(main.pid, signal.SIGKILL)
        main.wait()

        wait_until(lambda: not any(map(alive, orphan_killer)), 20, "the orphaned worker processes to stop")
    finally:
        stop_worker(main)


@pytest.mark.timeout(60)
def test_a_busy_orphan_finishes_its_job_though_nobody_reads_its_log_pipe(redis_client, worker_env, orphan_killer):
    """The job logs 300 KB after the main process died: more than the log pipe holds."""
    main = start_worker(
        worker_env,
        module="tests.worker_app",
        processes=1,
        threads=1,
        cwd=os.getcwd(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        chatty.send(3)
        wait_until(lambda: redis_client.llen(CHATTY_KEY) == 1, 30, "the chatty job to start")
        orphan_killer += child_pids(main.pid)

        os.kill(main.pid, signal.SIGKILL)
        main.wait()

        wait_until(lambda: not any(map(alive, orphan_killer)), 15, "the busy orphan to stop")
    finally:
        stop_worker(main)
    worker = orphan_killer[0]
    assert [entry.decode() for entry in redis_client.lrange(CHATTY_KEY, 0, -1)] == [
        f"started {worker}",
        f"done {worker}",
    ]
