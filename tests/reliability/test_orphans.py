"""Worker processes whose main `dramatiq` process was SIGKILLed stop by themselves."""

import os
import signal

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import Image
from tests.helpers import finish, submit, wait_until
from tests.reliability.supervision import child_pids


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited


@pytest.mark.timeout(60)
def test_worker_processes_stop_when_their_main_process_is_killed(worker_env, media_root, tmp_path):
    main, workers = start_worker(worker_env, processes=2, threads=1), []
    try:
        wait_until(lambda: len(child_pids(main.pid)) == 2, 30, "two worker processes")
        workers = child_pids(main.pid)
        image_id = submit(media_root, save_jpeg(make_photo(320, 240), tmp_path / "before.jpg"))
        assert finish([image_id], timeout_s=30)[image_id].status == Image.COMPLETED  # both booted

        os.kill(main.pid, signal.SIGKILL)
        main.wait()

        wait_until(lambda: not any(alive(pid) for pid in workers), 10, "the orphaned worker processes to stop")
    finally:
        stop_worker(main)
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
