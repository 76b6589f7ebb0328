"""The ``imagepipe`` command as a user runs it: a real process, a real worker, real Redis."""

import json
import os
import subprocess
import sys

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.storage import LocalStorage
from imagepipe.worker_process import start_worker, stop_worker
from tests.conftest import storage_env


def imagepipe(*args, env, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli_storage(tmp_path, storage):
    """The test's S3 prefix, or a local folder of this test's own."""
    return storage if storage.scheme == "s3" else LocalStorage(tmp_path / "media")


@pytest.fixture
def cli_env(tmp_path, redis_client, redis_url, cli_storage):
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        **storage_env(cli_storage),
    }


def test_migrate_is_safe_to_run_twice(cli_env):
    first = imagepipe("migrate", env=cli_env)
    second = imagepipe("migrate", env=cli_env)

    assert first.returncode == 0 and "migrated: image" in first.stdout
    assert second.returncode == 0 and second.stdout.strip() == "schema is up to date"


def test_process_wait_with_a_dramatiq_actors_subprocess(cli_env, cli_storage, tmp_path, corpus):
    """`dramatiq actors` + `imagepipe process --wait`: a good photo completes, a bad one fails."""
    good = save_jpeg(make_photo(1300, 900, seed=3), tmp_path / "good.jpg")
    bad = corpus / "bad" / "truncated_Canon_40D.jpg"
    assert imagepipe("migrate", env=cli_env).returncode == 0
    worker = start_worker(cli_env, processes=2, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = imagepipe("process", str(good), str(bad), "--wait", "--timeout", "90", env=cli_env)
        listed = imagepipe("status", "--json", env=cli_env)
    finally:
        assert stop_worker(worker) == 0

    assert done.returncode == 1  # not every image completed
    assert done.stderr.strip() == "imagepipe: 1 of 2 image(s) failed"
    assert "completed" in done.stdout and "failed" in done.stdout
    images = {row["source"].rsplit("/", 1)[-1]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert images["good.jpg"]["status"] == "completed"
    assert sorted((v["width"], v["format"]) for v in images["good.jpg"]["variants"]) == [
        (640, "avif"),
        (640, "webp"),
        (1024, "avif"),
        (1024, "webp"),
    ]
    assert all(cli_storage.exists(v["path"]) for v in images["good.jpg"]["variants"])
    assert images["truncated_Canon_40D.jpg"]["status"] == "failed"
    assert "truncated" in images["truncated_Canon_40D.jpg"]["error"]


def test_errors_are_one_line_not_a_traceback(cli_env):
    result = imagepipe("process", "/no/such/file.jpg", env=cli_env)

    assert result.returncode == 1
    assert result.stderr.strip() == "imagepipe: error: no such file or folder: /no/such/file.jpg"


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"DATABASE_URL": "mysql+nosuch://x/y"}, "imagepipe: error: Unrecognized or unsupported scheme"),
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "imagepipe: error: connection to server"),
    ],
)
def test_a_bad_setting_is_one_line_not_a_traceback(cli_env, setting, message):
    result = imagepipe("status", env={**cli_env, **setting})

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(message)


def test_a_broker_that_is_down_leaves_no_orphan_image(cli_env, cli_storage, tmp_path):
    """When the message cannot be sent the row is taken back, so nothing waits for ever."""
    photo = save_jpeg(make_photo(100, 100), tmp_path / "a.jpg")
    imagepipe("migrate", env=cli_env)

    result = imagepipe("process", str(photo), env={**cli_env, "BROKER_URL": "redis://127.0.0.1:1/0"})
    listed = imagepipe("status", "--json", env=cli_env)

    assert result.returncode == 1 and result.stderr.startswith("imagepipe: error:")
    assert listed.stdout == ""
    assert cli_storage.keys("sources/") == []


def test_status_of_an_unknown_image(cli_env):
    imagepipe("migrate", env=cli_env)

    result = imagepipe("status", "999", env=cli_env)

    assert (result.returncode, result.stderr.strip()) == (1, "imagepipe: error: no image with id 999")


@pytest.mark.timeout(300)
def test_demo_runs_on_embedded_defaults_with_a_private_redis(tmp_path, redis_client):
    """The README's first command: SQLite and a Redis it starts itself when none answers."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "MEDIA_ROOT", "BROKER_URL")}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing answers there

    result = subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", "demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "started a private one" in result.stdout
    table = result.stdout.split("worker stopped")[1].splitlines()
    rows = [line.split() for line in table if line.strip()[:1].isdigit()]
    assert [row[2] for row in rows] == ["completed"] * 5
    assert (tmp_path / "imagepipe.db").is_file()
    assert "worker stopped (exit code 0)" in result.stdout
