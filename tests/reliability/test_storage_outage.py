"""The object store stopped during a run (SIGKILL, then started again on the same data):
images in flight complete once it is back, none is lost and none fails."""

import signal
import subprocess
import time

import pytest

from imagepipe.s3_server import PrivateS3, S3Unavailable
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.storage import bind_storage, open_storage
from imagepipe.worker_process import start_worker, stop_worker
from models import Image, Step
from tests.conftest import need
from tests.helpers import finish, submit, wait_until

IMAGES = 12
OUTAGE_S = 3


@pytest.fixture
def own_s3(monkeypatch):
    """A SeaweedFS of this test's own (the test kills it), bound as the process's storage."""
    try:
        server = PrivateS3().start()
    except S3Unavailable as error:
        need(str(error))
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{server.bucket}/outage")
    bind_storage(storage)
    yield server, storage
    bind_storage(None)
    server.stop()


@pytest.mark.timeout(150)
def test_images_in_flight_complete_after_the_store_comes_back(own_s3, redis_client, redis_url, database_url, tmp_path):
    server, storage = own_s3
    env = {
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        "DATABASE_URL": database_url,
        "IMAGEPIPE_STORAGE_URL": storage.address,
        **server.env,
        "IMAGEPIPE_RETRY_BACKOFF_MS": "2000",  # the production schedule: 2, 4, 8 s
    }
    photos = [save_jpeg(make_photo(1200, 800, seed=n), tmp_path / f"p{n}.jpg") for n in range(IMAGES)]
    worker = start_worker(env, processes=2, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ids = [submit(storage, photo) for photo in photos]
        # when: the store dies while the first images are being worked on
        wait_until(lambda: Step.select().where(Step.status == Step.DONE).count() >= 2, 60, "the first steps")
        server.halt(signal.SIGKILL)
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        server.start()
        back_at = time.monotonic()
        images = finish(ids, timeout_s=90)
    finally:
        assert stop_worker(worker) == 0

    # then: every image completed, some after a retry that the outage caused
    assert [image.status for image in images.values()].count(Image.COMPLETED) == IMAGES, {
        i.error for i in images.values()
    }
    retried = Step.select().where(Step.image.in_(ids), Step.attempts > 1).count()
    print(
        f"FIGURE storage-outage: {IMAGES} images, store down {back_at - down_at:.1f} s (SIGKILL, restarted on its "
        f"data): {IMAGES} completed, 0 failed, {retried} steps retried"
    )
