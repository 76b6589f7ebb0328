"""The HTTP API against a real uvicorn server, a real Redis and a real in-process worker."""

import time

import pytest

import web.events
from imagepipe.samples import make_photo, save_jpeg
from models import DeadLetter, Image, fail_step, register_image, start_step
from tests.helpers import finish
from tests.web.conftest import SseClient


@pytest.fixture
def jpeg(corpus):
    return (corpus / "formats" / "hopper.jpg").read_bytes()


@pytest.fixture
def photo(tmp_path):
    """A JPEG wide enough for every variant width (variants are never upscaled)."""
    path = tmp_path / "photo.jpg"
    save_jpeg(make_photo(2000, 1500), path)
    return path.read_bytes()


def upload(client, data, name="photo.jpg", **kwargs):
    return client.post("/images", files={"file": (name, data, "image/jpeg")}, **kwargs)


def test_upload_is_processed_and_its_variants_are_served(api, photo, settings):
    # when a real JPEG is uploaded
    response = upload(api, photo, name="../../evil name.jpg")
    # then it is accepted and queued, with where to follow it
    assert response.status_code == 202, response.text
    body = response.json()
    image_id = body["id"]
    assert body == {"id": image_id, "status": "queued", "url": f"/images/{image_id}",
                    "events": f"/images/{image_id}/events"}  # fmt: skip
    source = Image.get_by_id(image_id).source
    assert source.startswith("sources/") and source.endswith("/evil_name.jpg")
    finish([image_id])
    image = api.get(body["url"]).json()
    assert image["status"] == "completed" and image["error"] is None
    assert (image["format"], image["width"], image["height"], image["bytes"]) == ("JPEG", 2000, 1500, len(photo))
    assert image["metadata"]["mode"] == "RGB"
    expected = len(settings.variant_widths) * len(settings.variant_formats)
    assert len(image["variants"]) == expected == 6
    for variant in image["variants"]:
        served = api.get(variant["url"])
        assert served.status_code == 200
        assert served.headers["content-type"] == f"image/{variant['format']}"
        assert len(served.content) == variant["bytes"]
    listed = api.get("/images", params={"status": "completed", "per_page": 5}).json()
    assert [row["id"] for row in listed["images"]] == [image_id] and listed["total"] == 1
    # and the gallery's row has the smallest WebP as thumbnail and what the full-size variant saves
    (row,) = listed["images"]
    webps = [variant for variant in image["variants"] if variant["format"] == "webp"]
    assert row["thumbnail"] == min(webps, key=lambda variant: variant["width"])["url"]
    widest = max(variant["width"] for variant in image["variants"])
    full_size = min(variant["bytes"] for variant in image["variants"] if variant["width"] == widest)
    assert row["saved_bytes"] == len(photo) - full_size > 0


def test_image_events_run_through_completion_and_resume_exactly(api, jpeg):
    image_id = upload(api, jpeg).json()["id"]
    stream = SseClient(api, f"/images/{image_id}/events")
    try:
        events = stream.until("image-completed")
    finally:
        stream.close()
    types = [event["event"] for event in events]
    assert types[0] == "job-queued" and "job-active" in types and "job-completed" in types
    assert all(event["data"]["image_id"] == image_id and event["data"]["type"] == event["event"] for event in events)
    assert len({event["id"] for event in events}) == len(events)

    # when a client reconnects after the third event, it gets exactly the later ones
    resumed = SseClient(api, f"/images/{image_id}/events", headers={"Last-Event-ID": events[2]["id"]})
    try:
        again = [resumed.next_event() for _ in events[3:]]
        with pytest.raises(Exception):  # noqa: B017 - queue.Empty: nothing repeated or extra
            resumed.next_event(timeout=1.5)
    finally:
        resumed.close()
    assert again == events[3:]


def test_global_events_resume_from_a_query_id(api, jpeg):
    stream = SseClient(api, "/events")
    image_id = upload(api, jpeg).json()["id"]
    try:
        events = stream.until("image-completed")
    finally:
        stream.close()
    assert {event["data"]["image_id"] for event in events} == {image_id}
    resumed = SseClient(api, f"/events?last_event_id={events[0]['id']}")
    try:
        assert [resumed.next_event() for _ in events[1:]] == events[1:]
    finally:
        resumed.close()


def test_a_closed_stream_ends_the_server_read(serve, redis_client):
    api = serve()
    stream = SseClient(api, "/events")
    assert _blocked_readers(redis_client) == 1
    stream.close()
    # then within a read or two no XREAD is blocked any more, and none starts again
    time.sleep(2 * web.events.POLL_BLOCK_MS / 1000)
    assert _blocked_readers(redis_client, wait_s=1.5) == 0


def _blocked_readers(redis_client, wait_s=3):
    """Clients blocked in XREAD, sampled until one is or ``wait_s`` passes."""
    deadline = time.monotonic() + wait_s
    while True:
        count = sum("b" in client["flags"] for client in redis_client.client_list())
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def test_keep_alive_comments_are_sent(serve, monkeypatch):
    monkeypatch.setattr(web.events, "KEEPALIVE_INTERVAL_S", 0.5)
    stream = SseClient(serve(), "/events")
    try:
        assert stream.comments.get(timeout=5) == ": keep-alive"
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("data", "name", "status", "words"),
    [
        (b"", "empty.jpg", 400, "empty"),
        (b"just some text, honestly\n" * 4, "text.jpg", 415, "not an image"),
        (b"%PDF-1.4\n" + b"0" * 100, "photo.png", 415, "accepted"),
    ],
)
def test_bad_uploads_get_a_json_error(serve, data, name, status, words):
    response = upload(serve(), data, name=name)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert Image.select().count() == 0


def test_oversized_upload_is_refused(serve, jpeg):
    api = serve(max_upload_bytes=1000)
    response = upload(api, jpeg)
    assert response.status_code == 413 and "1,000 byte limit" in response.json()["error"]
    huge = upload(api, b"\xff" * 200_000)
    assert huge.status_code == 413
    assert Image.select().count() == 0


def test_requests_without_a_file_get_400(serve):
    api = serve()
    assert api.post("/images", data={"other": "x"}).status_code == 400
    response = api.post("/images", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "POST /uploads" in response.json()["error"]
    assert api.get("/images", params={"per_page": "lots"}).status_code == 400
    assert api.get("/images", params={"status": "nope"}).json()["error"].startswith("status must be")
    assert api.get("/images/999").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/media/variants/../imagepipe-test.db",
        "/media/variants/%2e%2e/imagepipe-test.db",
        "/media/variants/..%2fimagepipe-test.db",
        "/media/uploads/x.jpg",
        "/media/variants/",
        "/media/variants",
        "/media/variants/1",
        "/media/variants/link/secret.png",
        "/media//etc/passwd",
        "/media/variants/%2fetc%2fpasswd",
    ],
)
@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_media_serves_nothing_outside_variants(serve, media_root, path):
    (media_root / "variants" / "1").mkdir(parents=True, exist_ok=True)
    outside = media_root / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.png").write_bytes(b"secret")
    link = media_root / "variants" / "link"
    if not link.is_symlink():
        link.symlink_to(outside)
    response = serve().get(path)
    assert response.status_code == 404
    assert b"secret" not in response.content and response.json() == {"error": "not found"}


def test_a_token_guards_every_route_but_health_the_page_and_the_session(serve):
    api = serve(api_token="s3cret")
    for path in ("/images", "/dead-letters", "/events", "/images/1"):
        response = api.get(path)
        assert response.status_code == 401, path
        assert "authentication required" in response.json()["error"]
    # media URLs carry their own credential, a signature (tests/security/test_signed_media.py)
    assert api.get("/media/variants/1/640.webp", headers={"Authorization": "Bearer s3cret"}).status_code == 403
    assert api.get("/images", headers={"Authorization": "Bearer wrong"}).status_code == 401
    refused = api.get("/images", params={"token": "s3cret"})
    assert refused.status_code == 400 and "Authorization: Bearer" in refused.json()["error"]
    assert api.get("/images", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert api.get("/healthz").status_code == 503  # no token asked: unready (no worker here), not 401
    page = api.get("/")
    assert page.status_code == 200 and "EventSource" in page.text and "viewport" in page.text
    assert api.get("/session").json() == {"authentication": True, "scope": None, "expires_at": None}
    SseClient(api, "/events", headers={"Authorization": "Bearer s3cret"}).close()


def test_dead_letters_are_listed_and_replayed(api, storage, jpeg):
    import actors

    # given an image whose ingest message ended as a dead letter
    storage.put("tests/dead.jpg", jpeg, content_type="image/jpeg")
    image = register_image("tests/dead.jpg", "dead.jpg")
    start_step(image.id, "ingest")
    fail_step(image.id, "ingest", "disk busy")
    message = actors.ingest.message(image.id).copy(options={"retries": 3})
    dead = DeadLetter.create(
        message_id=message.message_id, actor="ingest", queue=message.queue_name, image_id=image.id,
        message=message.encode().decode(), error_type="TransientError", error="disk busy",
        traceback="Traceback ...", attempts=4,
    )  # fmt: skip
    listed = api.get("/dead-letters").json()["dead_letters"]
    assert [(row["id"], row["actor"], row["image_id"], row["error"]) for row in listed] == [
        (dead.id, "ingest", image.id, "disk busy")
    ]
    # when it is replayed over HTTP, the image is processed after all
    response = api.post(listed[0]["replay"])
    assert response.status_code == 202 and response.json() == {"replayed": dead.id, "image_id": image.id}
    assert finish([image.id])[image.id].status == "completed"
    assert api.get("/dead-letters").json()["dead_letters"][0]["replay_count"] == 1
    assert api.post("/dead-letters/9999/replay").status_code == 404


def test_the_image_list_counts_every_page_with_and_without_a_status(serve):
    ids = [register_image(f"tests/{n}.jpg", f"{n}.jpg").id for n in range(5)]
    Image.update(status=Image.FAILED).where(Image.id.in_(ids[:2])).execute()
    api = serve()

    every = api.get("/images", params={"per_page": 2, "page": 3}).json()
    failed = api.get("/images", params={"status": "failed", "per_page": 1}).json()

    assert (every["total"], every["pages"], [row["id"] for row in every["images"]]) == (5, 3, [ids[0]])
    assert (failed["total"], failed["pages"], [row["id"] for row in failed["images"]]) == (2, 2, [ids[1]])


def test_one_dead_letter_has_its_whole_error_and_traceback(serve, database_url):
    from models import DeadLetter

    client = serve()
    row = DeadLetter.create(
        message_id="m-1", queue="images", actor="ingest", image_id=None, error_type="CorruptImage",
        error="x" * 800, traceback="Traceback (most recent call last):\n  ...", message="{}", attempts=1,
    )  # fmt: skip

    listed = client.get("/dead-letters").json()["dead_letters"][0]
    shown = client.get(listed["url"])

    assert listed["url"] == f"/dead-letters/{row.id}" and len(listed["error"]) < 800
    assert shown.status_code == 200
    assert (shown.json()["error"], shown.json()["traceback"]) == ("x" * 800, row.traceback)
    assert client.get("/dead-letters/9999").status_code == 404
