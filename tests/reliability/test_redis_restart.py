"""Redis restarted under a running `dramatiq actors`: workers resume, nothing is lost."""

import functools
import signal
import subprocess
import time

import pytest

from imagepipe.cli.process import wait_for
from imagepipe.redis_server import PrivateRedis
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import Image, bind_database, migrate_schema
from tests.helpers import unfinished_steps
from tests.reliability.supervision import broker_env, sent_across_restarts

IMAGES_PER_ROUND = 4


@pytest.mark.timeout(240)
def test_three_redis_restarts_one_a_crash_lose_no_image(tmp_path, media_root):
    """Images sent between three Redis restarts (SIGTERM, SIGKILL, SIGTERM), throttled ones
    among them, all complete; after each restart a new image completes within 10 s.

    Redis keeps an append-only file, as a broker's Redis must: one that keeps nothing on disk
    loses every queued message when it restarts, whatever the workers do.
    """
    redis = PrivateRedis(persistent=True).start()
    database_url = f"sqlite:///{tmp_path / 'restart.db'}"
    bind_database(database_url)
    migrate_schema()
    env = {
        "REDIS_URL": redis.url,
        "BROKER_URL": redis.url,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        "IMAGEPIPE_RATE_LIMITS": "embed=2/s",  # so that delayed messages wait in Redis
        **broker_env(),  # what a worker held during the outage comes back after its heartbeat
    }
    worker = start_worker(env, processes=2, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    photos = [save_jpeg(make_photo(320, 240, seed=n), tmp_path / f"p{n}.jpg") for n in range(IMAGES_PER_ROUND * 3)]

    def restart(how):
        redis.halt(how)
        time.sleep(2)
        redis.start()

    batches = [photos[n * IMAGES_PER_ROUND : (n + 1) * IMAGES_PER_ROUND] for n in range(3)]
    restarts = [functools.partial(restart, how) for how in (signal.SIGTERM, signal.SIGKILL, signal.SIGTERM)]
    try:
        sent, resumed_after = sent_across_restarts(batches, restarts, env)
        ended = wait_for(sent, 90, report=lambda line: None)
    finally:
        stop_worker(worker)
        redis.stop()

    print(
        f"FIGURE fault2: {len(sent)} images across 3 Redis restarts (one SIGKILL); a new image completed "
        f"{', '.join(f'{s:.1f}' for s in resumed_after)}s after each restart"
    )
    assert ended, f"not finished: {unfinished_steps(sent)}"
    assert Image.select().where(Image.id.in_(sent), Image.status == Image.COMPLETED).count() == len(sent)
    assert max(resumed_after) < 10
