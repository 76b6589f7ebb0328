"""SQLite locked by another process for longer than its busy timeout, under a running
`dramatiq actors`: the steps that could not write wait and retry, no image is lost or failed."""

import sqlite3
import subprocess
import threading
import time

import pytest

from imagepipe.cli.process import wait_for
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import Image
from models.database import SQLITE_PRAGMAS
from tests.helpers import submit, unfinished_steps

IMAGES = 8
LOCKED_S = SQLITE_PRAGMAS["busy_timeout"] / 1000 + 5


def hold_write_lock(path, seconds, taken):
    """What a backup tool or a long migration does: one write transaction held for ``seconds``."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    taken.set()
    time.sleep(seconds)
    connection.execute("COMMIT")
    connection.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_a_write_lock_held_past_the_busy_timeout_loses_and_fails_no_image(worker_env, storage, tmp_path):
    photos = [save_jpeg(make_photo(1200, 800, seed=n), tmp_path / f"p{n}.jpg") for n in range(IMAGES)]
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        worker = start_worker(
            worker_env, module="tests.worker_app", cwd=".", stdout=output, stderr=subprocess.STDOUT, threads=2
        )
    taken = threading.Event()
    try:
        ids = [submit(storage, photo) for photo in photos]
        time.sleep(1)  # steps running
        locker = threading.Thread(
            target=hold_write_lock, args=(worker_env["DATABASE_URL"].removeprefix("sqlite:///"), LOCKED_S, taken)
        )
        locker.start()
        assert taken.wait(10)
        locker.join()
        released = time.monotonic()
        ended = wait_for(ids, 120, report=lambda line: None)
        recovered_after = time.monotonic() - released
    finally:
        assert stop_worker(worker) == 0

    statuses = [image.status for image in Image.select().where(Image.id.in_(ids))]
    print(
        f"FIGURE fault9: SQLite write-locked {LOCKED_S:.0f} s by another process (busy timeout "
        f"{SQLITE_PRAGMAS['busy_timeout'] / 1000:.0f} s) under {IMAGES} images: "
        f"{statuses.count(Image.COMPLETED)} completed, all {recovered_after:.1f}s after the lock was released"
    )
    assert ended, f"not finished: {unfinished_steps(ids)}"
    assert statuses == [Image.COMPLETED] * IMAGES
    assert "database is locked" in log.read_text()  # writes did meet the lock, and gave up
