"""Web and workers share nothing but Redis, PostgreSQL and the bucket: each runs in a folder
of its own, as dynos do, and no image file is ever written to either folder."""

import io
import os
import subprocess
import sys

import httpx
import pytest
from PIL import Image as PILImage

from imagepipe.redis_server import free_port
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from tests.conftest import storage_env
from tests.helpers import answers, finish, wait_until

WEB_START_TIMEOUT_S = 30


def image_files(folder):
    """Every file below ``folder`` that Pillow recognises as an image, whatever its name."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            try:
                with PILImage.open(path):
                    found.append(path)
            except Exception:
                pass
    return found


@pytest.fixture
def dynos(tmp_path, redis_url, database_url, storage):
    """``(web client, worker env, folders)``: a uvicorn web process and a `dramatiq actors`
    worker, each in its own working directory with its own MEDIA_ROOT."""
    folders = {name: tmp_path / name for name in ("web", "worker", "cli")}
    for folder in folders.values():
        (folder / "media").mkdir(parents=True)
    shared = {"REDIS_URL": redis_url, "BROKER_URL": redis_url, "DATABASE_URL": database_url, **storage_env(storage)}
    envs = {name: {**os.environ, **shared, "MEDIA_ROOT": str(folder / "media")} for name, folder in folders.items()}
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "web.app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folders["web"], env=envs["web"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = start_worker(envs["worker"], cwd=folders["worker"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until(lambda: answers(client, "/livez"), WEB_START_TIMEOUT_S, "the web process to answer")
        yield client, envs, folders
    finally:
        client.close()
        web.terminate()
        web.wait(timeout=10)
        assert stop_worker(worker) == 0


def fetch_variants(client, image_id):
    detail = client.get(f"/images/{image_id}").json()
    assert detail["status"] == "completed", detail
    for variant in detail["variants"]:
        served = httpx.get(variant["url"], timeout=30)  # from the bucket, not from the web process
        assert served.status_code == 200, variant["url"]
        with PILImage.open(io.BytesIO(served.content)) as decoded:
            assert decoded.width == variant["width"]
    return detail["variants"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("storage", ["s3"], indirect=True)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_web_worker_and_cli_share_no_disk(dynos, tmp_path):
    client, envs, folders = dynos
    photo = save_jpeg(make_photo(1300, 900, seed=9), tmp_path / "photo.jpg").read_bytes()

    # a direct upload: the bytes go to the bucket, the web process only hands out the form
    issued = client.post("/uploads", json={"name": "direct.jpg", "content_type": "image/jpeg", "bytes": len(photo)})
    form = issued.json()["upload"]
    assert (
        httpx.post(form["url"], data=form["fields"], files={"file": ("direct.jpg", photo, "image/jpeg")}).status_code
        == 204
    )
    direct = client.post("/images", json={"key": issued.json()["key"], "name": "direct.jpg"}).json()["id"]
    # a multipart upload through the web process
    multipart = client.post("/images", files={"file": ("multipart.jpg", photo, "image/jpeg")}).json()["id"]
    # `imagepipe process` from a third folder
    done = subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", "process", str(tmp_path / "photo.jpg")],
        cwd=folders["cli"], env=envs["cli"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from_cli = int(done.stdout.rsplit(":", 1)[1])

    images = finish([direct, multipart, from_cli])

    assert {image.status for image in images.values()} == {"completed"}, {i.error for i in images.values()}
    for image_id in images:
        assert len(fetch_variants(client, image_id)) == 4
    for name, folder in folders.items():
        assert image_files(folder) == [], f"the {name} process left image files"
