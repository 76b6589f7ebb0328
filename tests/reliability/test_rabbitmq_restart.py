"""RabbitMQ restarted under a running `dramatiq actors` whose broker it is: workers resume,
nothing is lost. It restarts the RabbitMQ of this machine (rabbitmqctl stop_app / start_app):
every vhost of it goes away for a moment, so nothing else may use it meanwhile."""

import shutil
import subprocess
import time

import pytest

from imagepipe.cli.process import wait_for
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import Image
from tests.helpers import start_test_worker, unfinished_steps
from tests.reliability.supervision import sent_across_restarts

IMAGES_PER_ROUND = 4
DOWN_S = 3


def _rabbitmqctl(*arguments):
    subprocess.run([shutil.which("rabbitmqctl"), "-q", *arguments], check=True, capture_output=True, timeout=60)


def _restart():
    _rabbitmqctl("stop_app")
    time.sleep(DOWN_S)
    _rabbitmqctl("start_app")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("broker_url", ["rabbitmq"], indirect=True)
@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_two_rabbitmq_restarts_lose_no_image(worker_env, tmp_path):
    """Images sent before each of two restarts (some running, throttled ones waiting in the
    delay queue) and after them all complete, each exactly once; after each restart a new image
    completes within 15 s. Dramatiq declares durable queues and persistent messages, so what
    waited in RabbitMQ is there again; what a worker held unacked is requeued by the server."""
    env = {**worker_env, "IMAGEPIPE_RATE_LIMITS": "embed=2/s"}
    photos = [save_jpeg(make_photo(320, 240, seed=n), tmp_path / f"p{n}.jpg") for n in range(IMAGES_PER_ROUND)]
    worker = start_test_worker(env, processes=2, threads=2)
    try:
        sent, resumed_after = sent_across_restarts([photos, photos], [_restart, _restart], env)
        ended = wait_for(sent, 90, report=lambda line: None)
    finally:
        assert stop_worker(worker) == 0

    print(
        f"FIGURE fault10: {len(sent)} images across 2 RabbitMQ restarts ({DOWN_S} s down); a new image completed "
        f"{', '.join(f'{s:.1f}' for s in resumed_after)}s after each restart"
    )
    assert ended, f"not finished: {unfinished_steps(sent)}"
    assert Image.select().where(Image.id.in_(sent), Image.status == Image.COMPLETED).count() == len(sent)
    assert max(resumed_after) < 15
