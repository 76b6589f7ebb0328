"""PostgreSQL away for 15 s under a running `dramatiq actors`: steps wait and retry on new
connections, no image is lost or failed. It stops this machine's PostgreSQL (pg_ctlcluster),
so nothing else may use it meanwhile."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from imagepipe.cli.process import wait_for
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import Image, database
from tests.conftest import need
from tests.helpers import start_test_worker, submit, unfinished_steps

IMAGES = 12
DOWN_S = 15


def _cluster(action):
    versions = sorted(Path("/etc/postgresql").glob("*"), key=lambda path: [int(n) for n in path.name.split(".")])
    command = ["pg_ctlcluster", versions[-1].name, "main", action]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_postgres_unreachable_for_15_s_loses_and_fails_no_image(worker_env, storage, tmp_path):
    need(None if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir() else "no pg_ctlcluster here")
    photos = [save_jpeg(make_photo(1200, 800, seed=n), tmp_path / f"p{n}.jpg") for n in range(IMAGES)]
    worker = start_test_worker(worker_env, processes=2, threads=2)
    try:
        ids = [submit(storage, photo) for photo in photos]
        time.sleep(1)  # steps running
        _cluster("stop")
        time.sleep(DOWN_S)
        _cluster("start")
        back = time.monotonic()
        database.close()  # this process's connection went with the server
        ended = wait_for(ids, 120, report=lambda line: None)
        recovered_after = time.monotonic() - back
        probe = [submit(storage, photos[0], name="after.jpg")]
        probe_ended = wait_for(probe, 30, report=lambda line: None)
    finally:
        assert stop_worker(worker) == 0

    statuses = [image.status for image in Image.select().where(Image.id.in_(ids + probe))]
    print(
        f"FIGURE fault8: PostgreSQL stopped for {DOWN_S} s under {IMAGES} images: "
        f"{statuses.count(Image.COMPLETED)} of {len(statuses)} completed, all {recovered_after:.1f}s after it was back"
    )
    assert ended and probe_ended, f"not finished: {unfinished_steps(ids + probe)}"
    assert statuses == [Image.COMPLETED] * (IMAGES + 1)
