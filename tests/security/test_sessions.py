"""Sessions and scopes against the real server: the cookie's attributes, forged and expired
cookies, the read token on every admin route, and writes from another origin."""

import re
import time

import pytest
from starlette.routing import Route

from models import DeadLetter, Image, register_image
from models.webhooks import WebhookDelivery
from tests.web.conftest import SseClient
from web.app import create_app
from web.auth import SAFE_METHODS, needed_scope

pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)

ADMIN, READ = "admin-t0ken", "read-t0ken"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app_server(serve):
    return serve(api_token=ADMIN, read_token=READ, retain_failed_images_days=30.0)


def test_signing_in_sets_an_httponly_strict_expiring_cookie_that_the_streams_carry(serve):
    api = serve(api_token=ADMIN, read_token=READ, session_ttl_s=3600)
    response = api.post("/session", headers=bearer(ADMIN))
    assert response.status_code == 200 and response.json()["scope"] == "admin"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=3600" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; over https (below) it is Secure
    assert ADMIN not in cookie
    api.headers.pop("authorization", None)
    assert api.get("/images").status_code == 200  # httpx keeps the cookie, as a browser does
    assert api.get("/session").json()["scope"] == "admin"
    SseClient(api, "/events").close()  # EventSource's request: the cookie, no header, no query
    assert api.delete("/session").status_code == 204
    assert api.get("/images").status_code == 401


def test_behind_an_https_proxy_the_cookie_is_secure(app_server):
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (FORWARDED_ALLOW_IPS), as from a platform's router
    response = app_server.post("/session", headers={**bearer(READ), "X-Forwarded-Proto": "https"})
    assert response.status_code == 200 and "; Secure" in response.headers["set-cookie"]


def test_with_imagepipe_https_the_cookie_is_secure_whatever_the_proxy_headers(serve):
    api = serve(api_token=ADMIN, https=True)  # a router whose addresses uvicorn does not trust
    response = api.post("/session", headers=bearer(ADMIN))
    assert "; Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_a_forged_or_expired_cookie_is_refused(serve):
    api = serve(api_token=ADMIN, read_token=READ, session_ttl_s=3)
    value = api.post("/session", headers=bearer(READ)).cookies["imagepipe_session"]
    api.cookies.clear()
    version, scope, expires, signature = value.split(".")
    forged = {
        "scope raised to admin": f"{version}.admin.{expires}.{signature}",
        "expiry moved on": f"{version}.{scope}.{int(expires) + 3600}.{signature}",
        "one byte of the signature changed": f"{version}.{scope}.{expires}.{_flip(signature)}",
        "no signature": f"{version}.{scope}.{expires}",
        "a non-ASCII signature": f'"{version}.{scope}.{expires}.\\351"',
        "garbage": "x" * 40,
    }
    for case, cookie in forged.items():
        response = api.get("/images", headers={"Cookie": f"imagepipe_session={cookie}"})
        assert response.status_code == 401, case
    assert api.get("/images", headers={"Cookie": f"imagepipe_session={value}"}).status_code == 200
    time.sleep(max(0.0, int(expires) - time.time()) + 0.2)  # the session's 3 s have passed
    assert api.get("/images", headers={"Cookie": f"imagepipe_session={value}"}).status_code == 401


def _flip(text):
    return ("A" if text[0] != "A" else "B") + text[1:]


def admin_routes(app):
    """Every (method, path) of the app that needs the admin scope, path parameters filled in."""
    for route in app.routes:
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method not in SAFE_METHODS and needed_scope(method, route.path) == "admin":
                yield method, re.sub(r"\{(\w+)_id:int\}", r"{\1}", route.path)


def test_the_read_token_gets_403_on_every_admin_route_and_changes_nothing(app_server, jpeg_file):
    admin = app_server
    image = register_image("sources/x/kept.jpg", "kept.jpg")
    dead = DeadLetter.create(
        actor="ingest", queue="images", message_id="m1", image_id=image.id, error_type="Boom", error="boom",
        traceback="", attempts=1, message="{}",
    )  # fmt: skip
    delivery = WebhookDelivery.create(
        event_id="e1", event_type="image.completed", url="http://127.0.0.1:9/hook", body="{}", status="gone"
    )
    routes = sorted(admin_routes(create_app(bind=False)))
    assert len(routes) >= 8, routes  # upload, confirm, upload forms, delete, cancel, retry, replay, sign out...
    tried = 0
    for session in ("bearer", "cookie"):
        client_headers = bearer(READ) if session == "bearer" else {}
        if session == "cookie":
            admin.cookies.clear()
            assert admin.post("/session", headers=bearer(READ)).status_code == 200
        for method, path in routes:
            if (method, path) in (("DELETE", "/session"), ("POST", "/uploads/form")):
                continue  # signing out is anyone's; the upload form's key is its credential
            url = path.format(image=image.id, dead_letter=dead.id, delivery=delivery.id)
            response = admin.request(method, url, headers=client_headers, files={"file": ("a.jpg", jpeg_file)})
            assert response.status_code == 403, (session, method, url, response.text)
            assert "admin token" in response.json()["error"]
            tried += 1
    assert tried == 2 * (len(routes) - 2)
    assert Image.get_by_id(image.id).status == Image.QUEUED
    assert DeadLetter.get_by_id(dead.id).replay_count == 0
    assert Image.select().count() == 1
    assert WebhookDelivery.get_by_id(delivery.id).status == "gone"


@pytest.fixture
def jpeg_file(corpus):
    return (corpus / "formats" / "hopper.jpg").read_bytes()


CROSS_SITE = {
    "Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
    "Sec-Fetch-Site: same-site": {"Sec-Fetch-Site": "same-site"},
    "Origin of another host (no Sec-Fetch-Site)": {"Origin": "http://evil.example"},
    "Origin null (a sandboxed frame)": {"Origin": "null"},
}


def test_writes_from_another_origin_are_refused_even_with_a_valid_session(app_server, jpeg_file):
    api = app_server
    assert api.post("/session", headers=bearer(ADMIN)).status_code == 200
    image = register_image("sources/x/kept.jpg", "kept.jpg")
    for case, headers in CROSS_SITE.items():
        for method, url in (
            ("POST", "/images"),
            ("DELETE", f"/images/{image.id}"),
            ("POST", f"/images/{image.id}/cancel"),
        ):
            response = api.request(
                method, url, headers=headers, files={"file": ("a.jpg", jpeg_file)} if method == "POST" else None
            )
            assert response.status_code == 403, (case, method, url)
            assert "cross-site" in response.json()["error"]
    assert Image.select().count() == 1 and Image.get_by_id(image.id).status == Image.QUEUED
    own = {"Sec-Fetch-Site": "same-origin", "Origin": str(api.base_url).rstrip("/")}
    assert api.post(f"/images/{image.id}/cancel", headers=own).status_code == 200


def test_an_odd_cookie_beside_the_session_neither_breaks_a_route_nor_signs_out(app_server):
    value = app_server.post("/session", headers=bearer(READ)).cookies["imagepipe_session"]
    app_server.cookies.clear()
    hostile = 'imagepipe_session="v1.read.9999999999.\\351"'
    assert app_server.get("/livez", headers={"Cookie": hostile}).status_code == 200
    assert app_server.get("/images", headers={"Cookie": hostile}).status_code == 401
    for other in ('pref={"a":1}', "theme=dark mode", 'x="'):
        response = app_server.get("/images", headers={"Cookie": f"{other}; imagepipe_session={value}"})
        assert response.status_code == 200, other


def test_signing_in_again_opens_no_new_stream_budget(serve):
    api = serve(api_token=ADMIN, read_token=READ, web_max_streams_per_client=2)
    streams = []
    for _ in range(2):  # two sign-ins, a stream each: the token's budget of two
        api.cookies.clear()
        assert api.post("/session", headers=bearer(READ)).status_code == 200
        streams.append(SseClient(api, "/events"))
    api.cookies.clear()
    assert api.post("/session", headers=bearer(READ)).status_code == 200
    refused = api.get("/events")
    assert refused.status_code == 429 and refused.headers["retry-after"]
    for stream in streams:
        stream.close()
