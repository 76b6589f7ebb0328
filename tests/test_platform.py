"""The Procfile on a platform's terms: a fresh venv built only from requirements.txt, as a
Heroku-style Python build makes it, then each Procfile line run by honcho."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from imagepipe.redis_server import free_port
from imagepipe.samples import make_photo, save_jpeg
from tests.helpers import answers, wait_until

ROOT = Path(__file__).resolve().parents[1]
HONCHO = Path(sys.executable).parent / "honcho"


@pytest.fixture(scope="module")
def platform_venv(tmp_path_factory):
    """``python -m venv`` + ``pip install -r requirements.txt``, nothing else."""
    venv = tmp_path_factory.mktemp("platform") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    built = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", "requirements.txt"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return venv


def honcho(venv, env, *process_types):
    """``honcho start TYPE...`` from the checkout, with the fresh venv first on PATH."""
    environment = {**env, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    return subprocess.Popen(
        [str(HONCHO), "start", "--no-prefix", *process_types],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


@pytest.mark.timeout(900)
def test_every_procfile_line_runs_from_a_requirements_txt_build(platform_venv, redis_url, tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }

    # release: migrate and check, then exit 0
    release = honcho(platform_venv, env, "release")
    output, _ = release.communicate(timeout=120)
    assert release.returncode == 0, output
    assert "storage: ok" in output

    # web and worker: /healthz on $PORT, and an uploaded image completes
    running = honcho(platform_venv, env, "web", "worker")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until(lambda: answers(client, "/healthz"), 60, "the web line to answer /healthz on $PORT")
        photo = save_jpeg(make_photo(800, 600), tmp_path / "p.jpg").read_bytes()
        image = client.post("/images", files={"file": ("p.jpg", photo, "image/jpeg")}).json()
        wait_until(lambda: client.get(image["url"]).json()["status"] == "completed", 90, "the worker line")
    finally:
        client.close()
        # then: SIGTERM, as the platform sends it, stops both lines cleanly
        started = time.monotonic()
        os.killpg(running.pid, signal.SIGTERM)
        output, _ = running.communicate(timeout=60)
    assert time.monotonic() - started < 30, output
    assert "Worker has been shut down" in output and "Finished server process" in output, output[-3000:]
