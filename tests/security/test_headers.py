"""The security headers on every kind of response of the real server, the page's hashed CSP,
and served media that is never a document, whatever its bytes."""

import base64
import dataclasses
import hashlib
import io
import re
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image as PILImage
from starlette.routing import Route

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.storage import content_type
from tests.security.conftest import assert_clean
from tests.web.conftest import running_server
from web.app import create_app

TOKEN = "headers-secret"
LOCAL = pytest.mark.parametrize("storage", ["local"], indirect=True)


def assert_secured(response, what):
    """The headers every response carries, whatever it is."""
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", (what, headers)
    assert headers.get("referrer-policy") == "no-referrer", (what, headers)
    assert headers.get("x-frame-options") == "DENY", (what, headers)
    policy = directives(headers.get("content-security-policy", ""))
    assert policy.get("frame-ancestors") == ["'none'"] and policy.get("default-src") == ["'none'"], (what, policy)
    assert "strict-transport-security" not in headers, what  # plain http


def directives(policy):
    """A CSP as ``{directive: [sources]}``."""
    parsed = {}
    for part in filter(None, (piece.strip() for piece in policy.split(";"))):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def sha256_source(text):
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


@LOCAL
def test_every_kind_of_response_has_the_security_headers(serve, storage, database_url):
    body = io.BytesIO()
    PILImage.new("RGB", (8, 8), "teal").save(body, "WEBP")
    storage.put("variants/1/8-0123456789ab.webp", body.getvalue(), content_type="image/webp")
    api = serve()
    locked = serve(api_token=TOKEN)
    responses = {
        "page": api.get("/"),
        "json": api.get("/images"),
        "404": api.get("/no/such/route"),
        "405": api.put("/images"),
        "400": api.get("/images", params={"per_page": "lots"}),
        "401": locked.get("/images"),
        "403 media": locked.get("/media/variants/1/8-0123456789ab.webp"),
        "404 media": api.get("/media/variants/1/missing.webp"),
        "media": api.get("/media/variants/1/8-0123456789ab.webp"),
        "health": api.get("/livez"),
    }
    with api.stream("GET", "/events") as stream:  # the head of an SSE response, before any event
        assert stream.headers["content-type"].startswith("text/event-stream")
        responses["sse"] = stream
    for what, response in responses.items():
        assert_secured(response, what)
    assert responses["media"].status_code == 200 and responses["401"].status_code == 401


@LOCAL
def test_a_server_error_has_the_security_headers_too(settings, database_url, redis_client, storage):
    async def boom(request):
        raise RuntimeError("boom")

    app = create_app(dataclasses.replace(settings, database_url=database_url), bind=False)
    app.router.routes.append(Route("/boom", boom))
    with running_server(app) as url:
        response = httpx.get(f"{url}/boom")
    assert response.status_code == 500 and response.json()["error"].startswith("internal error")
    assert_secured(response, "500")


@LOCAL
def test_hsts_is_sent_only_over_https(serve):
    api = serve()
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as it does from a proxy in front of it
    secure = api.get("/images", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in api.get("/images").headers


def test_the_page_csp_allows_its_own_inline_script_and_style_by_hash_and_nothing_inline_else(serve, storage):
    response = serve().get("/")
    policy = directives(response.headers["content-security-policy"])
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", response.text, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert policy["script-src"] == [sha256_source(scripts[0])]
    assert policy["style-src"] == [sha256_source(styles[0])]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    assert not re.search(r"<script[^>]*\bsrc=|\sstyle=|\son[a-z]+=", response.text)  # nothing else inline
    assert policy["default-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
    # images and connections: this origin, and the bucket's own where the browser goes to it
    bucket = []
    if storage.scheme == "s3":
        endpoint = urlsplit(storage._client().meta.endpoint_url)
        bucket = [f"{endpoint.scheme}://{endpoint.netloc}"]
    assert policy["img-src"] == ["'self'", *bucket, "data:"]
    assert policy["connect-src"] == ["'self'", *bucket]


@LOCAL
def test_media_is_served_as_its_image_type_sandboxed_never_as_html(serve, storage):
    # given: an HTML file planted among the variants, and HTML bytes under an image's name
    html = b"<!doctype html><script>alert(document.domain)</script>"
    storage.put("variants/1/x.html", html, content_type="text/html")
    storage.put("variants/1/8-0123456789ab.webp", html, content_type="image/webp")
    api = serve()
    # then: the .html key is not served at all (only image types are), nor a source
    assert api.get("/media/variants/1/x.html").status_code == 404
    storage.put("sources/00/photo.jpg", html, content_type="image/jpeg")
    assert api.get("/media/sources/00/photo.jpg").status_code == 404
    # and the mislabelled file goes out as an image, not to be sniffed, and sandboxed
    response = api.get("/media/variants/1/8-0123456789ab.webp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert directives(response.headers["content-security-policy"]) == {
        "default-src": ["'none'"], "frame-ancestors": ["'none'"], "sandbox": [],
    }  # fmt: skip
    assert "immutable" in response.headers["cache-control"]  # hashed keys stay cacheable


@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_a_bucket_serves_a_variant_with_the_image_type_it_was_stored_with(storage):
    # as actors/pipeline.py stores a variant: the type its key's extension names
    key = "variants/1/8-0123456789ab.webp"
    storage.put(key, b"<!doctype html><script>alert(1)</script>", content_type=content_type(key))
    response = httpx.get(storage.url(key, expires_s=60))
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"


def test_the_page_works_under_its_csp_in_chromium(api, watched, storage, tmp_path):
    from playwright.sync_api import expect

    # given: the page, on local storage (its own form, /media/) or a bucket (presigned POST and GETs)
    page = watched(f"{api.base_url}/")
    expect(page.locator("#dead .empty")).to_have_text("none")
    # when: a photo is dropped on it
    page.set_input_files("#picker", save_jpeg(make_photo(900, 600), tmp_path / "csp.jpg"))
    # then: it uploads, follows its events, shows its thumbnails, with no violation of the CSP
    card = page.locator("#cards .card")
    expect(card.locator(".status")).to_have_text("completed", timeout=30_000)
    thumbs = card.locator(".thumbs img")
    expect(thumbs).not_to_have_count(0)
    for index in range(thumbs.count()):
        thumbs.nth(index).scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumbs.nth(index).element_handle())
    page.goto(f"{api.base_url}/#operations")  # the charts: SVG attributes and element styles set by script
    expect(page.locator("#activity svg").first).to_be_visible()
    assert_clean(page, watched.seen)
