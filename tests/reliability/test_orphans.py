"""Worker processes whose main `dramatiq` process was SIGKILLed stop by themselves."""

import os
import signal

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import Image
from tests.helpers import finish, start_test_worker, submit, wait_until
from tests.reliability.supervision import child_pids, wait_for_exit
from tests.worker_app import CHATTY_KEY, chatty


def kill_main_process(main, timeout_s):
    """SIGKILL ``main``; returns its worker processes and whether they all stopped by themselves
    within ``timeout_s`` (those that did not are killed, so none takes a later test's messages)."""
    orphans = child_pids(main.pid)
    os.kill(main.pid, signal.SIGKILL)
    main.wait()
    return orphans, wait_for_exit(orphans, timeout_s)


@pytest.mark.timeout(60)
def test_idle_worker_processes_stop_when_their_main_process_is_killed(worker_env, storage, tmp_path):
    main = start_worker(worker_env, processes=2, threads=1)
    try:
        wait_until(lambda: len(child_pids(main.pid)) == 2, 30, "two worker processes")
        image_id = submit(storage, save_jpeg(make_photo(320, 240), tmp_path / "before.jpg"))
        assert finish([image_id], timeout_s=30)[image_id].status == Image.COMPLETED

        orphans, stopped = kill_main_process(main, 10)
    finally:
        stop_worker(main)
    assert stopped, f"the orphaned worker processes {orphans} still ran 10 s later"


@pytest.mark.timeout(60)
def test_worker_processes_still_booting_when_their_main_process_is_killed_stop_too(worker_env):
    """Killed right after the fork: by the time a worker process has booted, its parent pid
    is already another process's, so the watch must know the main process from the fork; and
    a worker process that finishes booting after that hangs for good in Dramatiq's boot
    handshake with the dead main process, so the watch stops its Worker itself: within
    seconds, not at the last resort (the shutdown timeout, 25 s, + 5 s)."""
    main = start_worker(worker_env, processes=2, threads=1)
    try:
        wait_until(lambda: child_pids(main.pid), 30, "a worker process")
        orphans, stopped = kill_main_process(main, 12)
    finally:
        stop_worker(main)
    assert stopped, f"the orphaned worker processes {orphans} still ran 12 s later"


@pytest.mark.timeout(60)
def test_a_busy_orphan_finishes_its_job_though_nobody_reads_its_log_pipe(redis_client, worker_env):
    """The job logs 300 KB after the main process died: more than the log pipe holds."""
    main = start_test_worker(worker_env, processes=1, threads=1)
    try:
        chatty.send(3)
        wait_until(lambda: redis_client.llen(CHATTY_KEY) == 1, 30, "the chatty job to start")
        orphans, stopped = kill_main_process(main, 15)
    finally:
        stop_worker(main)
    assert stopped, f"the busy orphan {orphans} still ran 15 s later"
    assert [entry.decode() for entry in redis_client.lrange(CHATTY_KEY, 0, -1)] == [
        f"started {orphans[0]}",
        f"done {orphans[0]}",
    ]
