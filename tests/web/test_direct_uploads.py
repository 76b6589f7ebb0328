"""Direct uploads (``POST /uploads``, then ``POST /images`` with the key), variant URLs and
deletion, on both storage backends: the bucket's presigned POST, or the app's own form."""

import io

import httpx
import pytest
from PIL import Image as PILImage

from imagepipe.samples import make_photo, save_jpeg
from models import DeadLetter, Image, Step, Upload, Variant
from tests.helpers import finish, join_pipeline, wait_until


@pytest.fixture
def photo(tmp_path):
    return save_jpeg(make_photo(1300, 900, seed=4), tmp_path / "cat.jpg").read_bytes()


def issue(api, data, name="cat.jpg", content_type="image/jpeg", size=None):
    return api.post("/uploads", json={"name": name, "content_type": content_type, "bytes": size or len(data)})


def upload_to(form, data, content_type="image/jpeg"):
    return httpx.post(form["url"], data=form["fields"], files={"file": ("cat.jpg", data, content_type)}, timeout=30)


def test_a_direct_upload_is_confirmed_processed_and_served_from_absolute_urls(api, storage, photo):
    # given: a form for one file, and the file uploaded to it (not through the app)
    issued = issue(api, photo)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["key"].startswith("sources/") and body["key"].endswith("/cat.jpg")
    if storage.scheme == "s3":
        assert body["upload"]["url"].startswith(storage._client().meta.endpoint_url)
    assert upload_to(body["upload"], photo).status_code == 204

    # when: the app is told the key
    confirmed = api.post("/images", json={"key": body["key"], "name": "cat.jpg"})

    # then: the image is queued, processed, and its variants are fetched by URL at their width
    assert confirmed.status_code == 202, confirmed.text
    image_id = confirmed.json()["id"]
    assert finish([image_id])[image_id].status == Image.COMPLETED
    detail = api.get(f"/images/{image_id}").json()
    assert {(v["width"], v["format"]) for v in detail["variants"]} == {
        (w, f) for w in (640, 1024) for f in ("webp", "avif")
    }
    for variant in detail["variants"]:
        assert variant["url"].startswith("http://"), variant["url"]
        served = httpx.get(variant["url"], timeout=30)
        assert served.status_code == 200 and served.headers["content-type"] == f"image/{variant['format']}"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        with PILImage.open(io.BytesIO(served.content)) as decoded:
            assert decoded.width == variant["width"]
    assert Upload.get(Upload.key == body["key"]).image_id == image_id
    # a key confirms one image only
    assert api.post("/images", json={"key": body["key"]}).status_code == 409


def test_the_store_refuses_a_file_over_the_limit_and_the_api_a_key_never_uploaded(api, storage, photo, settings):
    limit = settings.max_upload_bytes
    assert issue(api, photo, size=limit + 1).status_code == 413
    assert issue(api, photo, content_type="text/html").status_code == 415
    form = issue(api, photo).json()

    refused = upload_to(form["upload"], b"x" * (limit + 1))
    never_uploaded = api.post("/images", json={"key": form["key"], "name": "cat.jpg"})
    unknown = api.post("/images", json={"key": "sources/" + "0" * 32 + "/cat.jpg"})

    assert refused.status_code == 400 and "EntityTooLarge" in refused.text
    assert not storage.exists(form["key"])
    assert never_uploaded.status_code == 404 and "nothing was uploaded" in never_uploaded.json()["error"]
    assert unknown.status_code == 400 and "not issued" in unknown.json()["error"]
    assert api.post("/images", json={"key": "../../etc/passwd"}).status_code == 400
    assert Image.select().count() == 0


def test_deleting_an_image_removes_its_rows_and_every_object(api, storage, photo):
    image_id = api.post("/images", files={"file": ("cat.jpg", photo, "image/jpeg")}).json()["id"]
    finish([image_id])
    keys = [Image.get_by_id(image_id).source] + [v.path for v in Variant.select().where(Variant.image == image_id)]
    assert all(storage.exists(key) for key in keys) and len(keys) == 5

    assert api.delete(f"/images/{image_id}").status_code == 204

    assert not any(storage.exists(key) for key in keys)
    assert storage.keys(f"variants/{image_id}/") == []
    assert Image.get_or_none(Image.id == image_id) is None
    assert api.delete(f"/images/{image_id}").status_code == 404


def test_an_image_deleted_in_flight_ends_without_error_or_dead_letter(api, storage, photo, broker):
    """Deleted right after upload: its remaining steps find it gone and end quietly."""
    image_id = api.post("/images", files={"file": ("cat.jpg", photo, "image/jpeg")}).json()["id"]
    wait_until(lambda: Step.select().where(Step.image == image_id, Step.status != Step.QUEUED).exists(), 30, "a start")
    source = Image.get_by_id(image_id).source

    assert api.delete(f"/images/{image_id}").status_code == 204
    join_pipeline(broker)

    assert DeadLetter.select().count() == 0
    wait_until(lambda: storage.keys(f"variants/{image_id}/") == [], 30, "the variants written meanwhile to go")
    assert not storage.exists(source)
