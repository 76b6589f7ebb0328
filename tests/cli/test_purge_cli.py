"""``imagepipe purge`` as a user runs it: a real process on the test database and storage."""

import json

import pytest

from models import Image, Step
from tests.cli.test_cli import imagepipe
from tests.conftest import storage_env
from tests.test_retention import stored_image


@pytest.fixture
def env(database_url, redis_client, redis_url, storage):
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": redis_url, **storage_env(storage)}


def test_off_by_default_it_says_how_to_turn_it_on(env, storage):
    stored_image(storage, Image.FAILED, 3650)

    result = imagepipe("purge", env=env)

    assert result.returncode == 0, result.stderr
    assert "retention is off: set IMAGEPIPE_RETAIN_STEP_HISTORY_DAYS" in result.stdout
    assert Image.select().count() == 1


def test_dry_run_shows_what_would_go_then_purge_deletes_it(env, storage):
    old, keys = stored_image(storage, Image.FAILED, 10)
    young, _ = stored_image(storage, Image.CANCELLED, 3)
    env = {**env, "IMAGEPIPE_RETAIN_FAILED_IMAGES_DAYS": "7", "IMAGEPIPE_RETAIN_STEP_HISTORY_DAYS": "7"}

    shown = imagepipe("purge", "--dry-run", "--json", env=env)
    table = imagepipe("purge", "--dry-run", env=env)

    assert shown.returncode == 0, shown.stderr
    kinds = {row["kind"]: row for row in json.loads(shown.stdout)["kinds"]}
    assert (kinds["failed_images"]["count"], kinds["step_history"]["count"]) == (1, 0)
    assert kinds["failed_images"]["oldest"].endswith("Z")
    assert "would delete" in table.stdout and "failed_images" in table.stdout
    assert Image.select().count() == 2 and storage.exists(keys[0])

    done = imagepipe("purge", env=env)

    assert done.returncode == 0, done.stderr
    assert "deleted" in done.stdout
    assert [image.id for image in Image.select()] == [young]
    assert not any(storage.exists(key) for key in keys)
    assert Step.select().where(Step.image == young).count() == 5
