"""``imagepipe sweep`` as a user runs it: a real process on the test database and Redis."""

import datetime

import pytest

from models import Step, register_image
from models.image import utcnow
from tests.cli.test_cli import imagepipe


@pytest.fixture
def env(database_url, redis_client, redis_url):
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": redis_url}


def stuck_ingest(minutes_ago=60):
    image = register_image("tests/a.jpg")
    Step.update(
        status=Step.PROCESSING, attempts=1, started_at=utcnow() - datetime.timedelta(minutes=minutes_ago)
    ).where(Step.image == image.id, Step.name == "ingest").execute()
    return image


def test_sweep_resends_stuck_steps(env, redis_client):
    image = stuck_ingest()

    result = imagepipe("sweep", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"re-sent ingest of image {image.id} (processing) to ingest"
    assert redis_client.llen("dramatiq:images") == 1


def test_dry_run_sends_nothing(env, redis_client):
    image = stuck_ingest()

    result = imagepipe("sweep", "--dry-run", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"would re-send ingest of image {image.id} (processing) to ingest"
    assert redis_client.llen("dramatiq:images") == 0


def test_deadline_decides_what_is_stuck(env, redis_client):
    stuck_ingest(minutes_ago=5)

    assert imagepipe("sweep", env=env).stdout.strip() == "no step stuck for more than 600 s"
    assert imagepipe("sweep", "--deadline", "60", "--dry-run", env=env).stdout.startswith("would re-send ingest")
    bad = imagepipe("sweep", "--deadline", "0", env=env)
    assert (bad.returncode, bad.stderr.strip()) == (
        1,
        "imagepipe: error: --deadline must be a positive number of seconds, not 0",
    )
