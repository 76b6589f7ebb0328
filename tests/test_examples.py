"""The README's app examples (examples/), each against a real `dramatiq` worker process."""

import os
import subprocess
import sys

import httpx
import pytest

from imagepipe.redis_server import free_port
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from models import bind_database
from tests.helpers import answers, start_test_worker, wait_until


@pytest.fixture
def running_worker(worker_env):
    worker = start_test_worker(worker_env)
    yield worker
    assert stop_worker(worker) == 0


@pytest.fixture
def photo(tmp_path):
    return save_jpeg(make_photo(900, 600, seed=2), tmp_path / "cat.jpg")


@pytest.mark.timeout(90)
def test_the_fastapi_example_submits_and_waits(running_worker, worker_env, photo):
    """The example served by uvicorn as the README runs it, with the worker's environment."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app", "--port", str(port)],
        env={**os.environ, **worker_env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=90)
    try:
        wait_until(lambda: answers(client, "/docs"), 30, "the FastAPI example to start")
        with open(photo, "rb") as body:
            queued = client.post("/photos", files={"file": ("cat.jpg", body, "image/jpeg")})
        assert queued.status_code == 202, queued.text
        done = client.get(f"/photos/{queued.json()['id']}", params={"wait": 60}).json()
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)

    assert done["status"] == "completed", done
    assert sorted((v["width"], v["format"]) for v in done["variants"]) == [(640, "avif"), (640, "webp")]


@pytest.mark.timeout(90)
def test_the_django_example_submits_and_waits(running_worker, database_url, photo):
    import django
    from django.test import Client

    import examples.django_app  # noqa: F401  (configures Django)

    django.setup()
    bind_database(database_url)  # the example binds the environment's database at import
    client = Client()
    with open(photo, "rb") as body:
        queued = client.post("/photos", {"file": body})
    assert queued.status_code == 202, queued.content

    done = client.get(f"/photos/{queued.json()['id']}", {"wait": 60}).json()

    assert done["status"] == "completed", done
    assert sorted((v["width"], v["format"]) for v in done["variants"]) == [(640, "avif"), (640, "webp")]
