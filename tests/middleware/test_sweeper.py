"""The Sweeper middleware: one worker process at a time re-sends the steps whose message was lost."""

import datetime
import subprocess

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from middleware import Sweeper
from middleware.sweeper import LOCK_KEY
from models import Image, Step, register_image
from models.image import utcnow
from tests.helpers import finish, register


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
