"""The Sweeper middleware: one worker process at a time re-sends the steps whose message was lost."""

import datetime
import subprocess

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from middleware import Sweeper
from middleware.sweeper import LOCK_KEY, RETENTION_KEY
from models import Image, Step, register_image
from models.image import utcnow
from tests.helpers import finish, register, wait_until
from tests.test_retention import stored_image


def lose_ingest(storage, tmp_path, name="lost.jpg"):
    """A real image whose ingest a crashed worker left processing; its message is gone from Redis."""
    image = Image.get_by_id(register(storage, save_jpeg(make_photo(400, 300, seed=7), tmp_path / name)))
    Step.update(status=Step.PROCESSING, attempts=1, started_at=utcnow() - datetime.timedelta(hours=1)).where(
        Step.image == image.id, Step.name == "ingest"
    ).execute()
    return image


def test_only_one_process_sweeps_at_a_time(broker, redis_url, redis_client):
    # given: a lost step and two worker processes' sweepers
    image = register_image("tests/a.jpg")
    Step.update(status=Step.PROCESSING, started_at=utcnow() - datetime.timedelta(hours=1)).where(
        Step.image == image.id, Step.name == "ingest"
    ).execute()
    first, second = (Sweeper(redis_url=redis_url, interval_s=30, deadline_s=60) for _ in range(2))

    # when: each runs a round
    rounds = [first.run_round(broker), second.run_round(broker)]

    # then: the lock holder sweeps (one send), the other does not sweep at all
    assert [r.image_id for r in rounds[0]] == [image.id]
    assert rounds[1] is None
    assert redis_client.llen("dramatiq:images") == 1
    assert redis_client.get(LOCK_KEY).decode() == first.token
    assert 59_000 < redis_client.pttl(LOCK_KEY) <= 60_000
    # the holder keeps the lock on its next round
    assert first.run_round(broker) == []


def test_a_failing_round_is_logged_not_raised(broker, caplog):
    sweeper = Sweeper(redis_url="redis://127.0.0.1:1/0", interval_s=1, deadline_s=1)

    assert sweeper.run_round(broker) is None
    assert "The sweep failed" in caplog.text


def test_zero_turns_it_off():
    assert not Sweeper(redis_url="redis://x", interval_s=0, deadline_s=600).enabled
    assert not Sweeper(redis_url="redis://x", interval_s=60, deadline_s=0).enabled


@pytest.mark.timeout(90)
def test_a_worker_recovers_an_image_whose_message_was_lost(redis_client, worker_env, storage, tmp_path):
    # given: an image whose ingest message was lost with its worker
    image = lose_ingest(storage, tmp_path)
    env = {
        **worker_env,
        "IMAGEPIPE_WIDTHS": "320",
        "IMAGEPIPE_FORMATS": "webp",
        "IMAGEPIPE_SWEEP_INTERVAL_S": "0.5",
        "IMAGEPIPE_SWEEP_DEADLINE_S": "30",
    }

    # when: two worker processes run with a short sweep interval
    worker = start_worker(env, processes=2, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # then: one of them re-sends it and the image completes
        assert finish([image.id], timeout_s=60)[image.id].status == Image.COMPLETED
    finally:
        stop_worker(worker)
    assert Step.get(Step.image == image.id, Step.name == "ingest").attempts == 2


def test_the_lock_holder_applies_retention_at_most_once_an_interval(broker, redis_url, redis_client, storage):
    # given: an image failed 10 days ago, and the sweepers of two processes keeping 7 days
    old, keys = stored_image(storage, Image.FAILED, 10)
    options = {"redis_url": redis_url, "interval_s": 30, "deadline_s": 60, "retention": {"failed_images": 7}}
    first, second = Sweeper(**options), Sweeper(**options)

    # when: both run a round; then: the lock holder's pass deletes it, files included
    first.run_round(broker), second.run_round(broker)
    assert Image.get_or_none(Image.id == old) is None and not any(storage.exists(key) for key in keys)
    assert 3_590_000 < redis_client.pttl(RETENTION_KEY) <= 3_600_000

    # when: another image gets old within the interval; then: no pass runs until it has passed
    later, _ = stored_image(storage, Image.CANCELLED, 10)
    first.run_round(broker)
    assert Image.get_or_none(Image.id == later) is not None
    redis_client.delete(RETENTION_KEY)  # the interval is over
    first.run_round(broker)
    assert Image.get_or_none(Image.id == later) is None


@pytest.mark.timeout(90)
def test_a_real_worker_applies_retention_and_keeps_what_is_not_old_enough(redis_client, worker_env, storage):
    # given: old and young failed images, and old step history, in the real database and storage
    old_failed, old_keys = stored_image(storage, Image.FAILED, 10)
    young_failed, young_keys = stored_image(storage, Image.FAILED, 1)
    completed, _ = stored_image(storage, Image.COMPLETED, 10)
    env = {
        **worker_env,
        "IMAGEPIPE_SWEEP_INTERVAL_S": "0.3",
        "IMAGEPIPE_RETAIN_FAILED_IMAGES_DAYS": "7",
        "IMAGEPIPE_RETAIN_STEP_HISTORY_DAYS": "7",
    }

    # when: two `dramatiq` worker processes run
    worker = start_worker(env, processes=2, threads=1, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # then: their leader deletes what is old, and nothing else
        wait_until(lambda: Image.get_or_none(Image.id == old_failed) is None, 60, "the old image to go")
        wait_until(lambda: not Step.select().where(Step.image == completed).exists(), 10, "the old steps to go")
    finally:
        assert stop_worker(worker) == 0
    assert not any(storage.exists(key) for key in old_keys)
    assert Image.get_by_id(young_failed) and all(storage.exists(key) for key in young_keys)
    assert Step.select().where(Step.image == young_failed).count() == 5
    assert Image.get_by_id(completed).status == Image.COMPLETED
