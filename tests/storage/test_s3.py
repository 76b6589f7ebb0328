"""S3 storage against a real SeaweedFS: what is written, what is refused, and why."""

import io
import os
import subprocess
import sys

import botocore.session
import httpx
import pytest

from imagepipe.errors import FileTooLarge, SourceMissing, StorageRefused, StorageUnavailable
from imagepipe.s3_server import PrivateS3
from imagepipe.storage import IMMUTABLE, open_storage
from imagepipe.storage.s3 import _copy_bounded
from imagepipe.worker_process import start_worker, stop_worker
from tests.conftest import storage_env


@pytest.fixture
def bucket(s3_server):
    return open_storage(f"s3://{s3_server.bucket}/unit-{__import__('uuid').uuid4().hex[:8]}")


def head(server, storage, key):
    client = botocore.session.get_session().create_client("s3", endpoint_url=server.endpoint)
    return client.head_object(Bucket=server.bucket, Key=storage.prefix + key)


def test_objects_keep_their_type_and_cache_control_and_read_back_whole(s3_server, bucket):
    bucket.put("variants/1/640-abc.webp", b"RIFF....WEBP", content_type="image/webp", cache_control=IMMUTABLE)

    stored = head(s3_server, bucket, "variants/1/640-abc.webp")
    with bucket.local_copy("variants/1/640-abc.webp", max_bytes=100) as path:
        assert path.read_bytes() == b"RIFF....WEBP"
    assert (stored["ContentType"], stored["CacheControl"]) == ("image/webp", IMMUTABLE)
    assert bucket.keys("variants/") == ["variants/1/640-abc.webp"]
    assert not path.exists()  # the local copy is gone with its block


def test_a_read_stops_at_the_byte_limit_whatever_the_store_declared():
    """The declared length is a first check only: a body longer than it still stops at the limit."""
    copy = io.BytesIO()
    with pytest.raises(FileTooLarge, match="over the 10 byte limit"):
        _copy_bounded(io.BytesIO(b"x" * 50), copy, 10, declared=5)
    assert len(copy.getvalue()) <= 10


def test_a_missing_key_a_missing_bucket_and_a_wrong_secret_each_say_what_is_wrong(s3_server, bucket, monkeypatch):
    with pytest.raises(
        SourceMissing, match=rf"^source not found in s3://{s3_server.bucket}/unit-\w+/sources/x/none.jpg$"
    ):
        with bucket.local_copy("sources/x/none.jpg", max_bytes=10):
            pass
    with pytest.raises(StorageRefused, match=r"^bucket not found: s3://no-such-bucket "):
        open_storage("s3://no-such-bucket").check()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(StorageRefused, match=r"^access denied: check the credentials' s3:\w+ on s3://") as denied:
        open_storage(bucket.address).check()
    assert "wrong-secret" not in str(denied.value)


def test_a_store_that_is_down_is_worth_a_retry():
    server = PrivateS3()  # never started: nothing listens on its port
    storage = open_storage(f"s3://{server.bucket}")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server.env.items():
            patch.setenv(name, value)
        with pytest.raises(StorageUnavailable, match="storage unreachable for s3://"):
            storage.put("a", b"x", content_type="text/plain")
    server.stop()


def test_the_store_itself_refuses_an_upload_over_the_form_limit(bucket):
    form = bucket.upload_form("sources/f/big.jpg", content_type="image/jpeg", max_bytes=100, expires_s=60)

    too_big = httpx.post(form["url"], data=form["fields"], files={"file": ("big.jpg", b"x" * 101, "image/jpeg")})
    wrong_type = httpx.post(
        form["url"], data={**form["fields"], "Content-Type": "text/html"}, files={"file": ("a", b"<html>", "text/html")}
    )
    fits = httpx.post(form["url"], data=form["fields"], files={"file": ("big.jpg", b"x" * 100, "image/jpeg")})

    assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
    assert wrong_type.status_code == 403
    assert fits.status_code == 204 and bucket.exists("sources/f/big.jpg")


@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_imagepipe_check_gives_one_line_for_each_problem(storage, tmp_path, redis_url):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        **storage_env(storage),
    }

    def check(**overrides):
        done = subprocess.run(
            [sys.executable, "-m", "imagepipe.cli", "check"], env={**env, **overrides}, capture_output=True, text=True
        )
        return done.returncode, done.stdout

    code, out = check()
    assert code == 0 and f"storage: ok ({storage.address})" in out, out
    code, out = check(IMAGEPIPE_STORAGE_URL="s3://no-such-bucket/x")
    assert code == 1 and "storage: FAILED: bucket not found: s3://no-such-bucket" in out
    code, out = check(AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert code == 1 and "storage: FAILED: access denied: check the credentials' s3:" in out
    assert "not-the-secret" not in out


def test_with_a_public_url_variant_urls_are_that_url_and_the_key(s3_server):
    storage = open_storage(f"s3://{s3_server.bucket}/app", public_url="https://cdn.example.com/")

    assert storage.url("variants/1/640-abc.webp", expires_s=60) == "https://cdn.example.com/app/variants/1/640-abc.webp"


def test_the_origins_a_browser_reaches_are_the_stores_and_the_public_urls(s3_server):
    storage = open_storage(f"s3://{s3_server.bucket}/app", public_url="https://cdn.example.com/img")
    store = s3_server.endpoint.split("://", 1)[1].split("/", 1)[0]

    assert storage.origins() == (f"http://{store}", "https://cdn.example.com")
    assert open_storage(f"s3://{s3_server.bucket}/app").origins() == (f"http://{store}",)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_a_worker_with_a_wrong_secret_fails_the_image_with_the_reason_and_leaks_nothing(
    worker_env, storage, redis_client, tmp_path
):
    """The image fails on its first attempt with a reason to act on; the secret appears in no
    dead letter, event or log line."""
    from imagepipe.samples import make_photo, save_jpeg
    from models import DeadLetter
    from tests.helpers import finish, submit

    secret = "wrong-secret-" + "9" * 20
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        env = {**worker_env, "AWS_SECRET_ACCESS_KEY": secret}
        worker = start_worker(env, module="tests.worker_app", cwd=os.getcwd(), stdout=output, stderr=subprocess.STDOUT)
    try:
        image_id = submit(storage, save_jpeg(make_photo(300, 200), tmp_path / "a.jpg"))
        image = finish([image_id], timeout_s=30)[image_id]
    finally:
        stop_worker(worker)

    assert image.status == "failed"
    assert image.error.startswith(f"access denied: check the credentials' s3:GetObject on {storage.address}")
    (dead,) = DeadLetter.select()
    events = b"".join(value for _, fields in redis_client.xrange("imagepipe:events") for value in fields.values())
    for text in (dead.message, dead.error, dead.traceback, events.decode(), log.read_text()):
        assert secret not in text


def test_later_steps_reuse_the_hosts_copy_while_the_object_is_unchanged(bucket, tmp_path):
    """One download an image, not one a step: the next reads ask If-None-Match and get a 304."""
    from imagepipe.storage.cache import SourceCache

    bucket.cache = SourceCache(tmp_path / "cache")
    calls = []
    bucket._client().meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    bucket.put("sources/c/a.jpg", b"first", content_type="image/jpeg")

    reads = []
    for _ in range(3):
        with bucket.local_copy("sources/c/a.jpg", max_bytes=100) as path:
            reads.append(path.read_bytes())
    bucket.put("sources/c/a.jpg", b"second", content_type="image/jpeg")
    with bucket.local_copy("sources/c/a.jpg", max_bytes=100) as path:
        reads.append(path.read_bytes())

    assert reads == [b"first"] * 3 + [b"second"]
    assert calls == ["PutObject", "GetObject", "HeadObject", "HeadObject", "PutObject", "HeadObject", "GetObject"]
    (folder,) = (tmp_path / "cache").iterdir()
    assert [copy.read_bytes() for copy in folder.iterdir()] == [b"second"]  # the newest copy only
