"""Attacks tried in Chromium against the real server: a full session's traces, another
origin's page using the victim's session, and what a read session is shown."""

import base64
import contextlib
import http.server
import logging
import threading

import pytest

from imagepipe.redis_server import free_port
from models import DeadLetter, Image, register_image
from tests.helpers import wait_until
from tests.web.conftest import sign_in

pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)

ADMIN, READ = "victim-admin-Tk9x2", "victim-read-Qp7w4"
PIPELINE_TIMEOUT_S = 90


class AccessLog(logging.Handler):
    """The lines uvicorn's access log writes, as they leave its logger's filters."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def access_log():
    logger = logging.getLogger("uvicorn.access")
    handler = AccessLog()
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


SHOWN_THUMBNAIL = """() => [...document.querySelectorAll('#cards .thumbs img')]
  .some((img) => img.complete && img.naturalWidth > 0)"""


def sign_in_with_the_form(page, base_url, token):
    from playwright.sync_api import expect

    page.goto(f"{base_url}/")
    expect(page.locator("#signin-view")).to_be_visible()
    page.fill("#signin-token", token)
    page.click("#signin-form button")
    expect(page.locator("#session")).to_be_visible()


def test_a_browser_session_leaves_no_credential_in_the_log_the_stream_or_a_url(
    serve, worker, open_page, corpus, redis_client, settings
):
    from playwright.sync_api import expect

    api = serve(log_level="info", api_token=ADMIN, read_token=READ)
    base = str(api.base_url).rstrip("/")
    page = open_page(viewport={"width": 1280, "height": 900})
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    with access_log() as lines:
        # a person signs in, uploads a photo and a broken file, follows both live, replays the failure
        sign_in_with_the_form(page, base, ADMIN)
        page.set_input_files("#picker", [corpus / "formats" / "hopper.jpg", corpus / "bad" / "truncated_Canon_40D.jpg"])
        cards = page.locator("#cards .card")
        expect(cards.filter(has_text="hopper.jpg").locator(".status")).to_have_text(
            "completed", timeout=PIPELINE_TIMEOUT_S * 1000
        )
        expect(cards.filter(has_text="truncated").locator(".status")).to_have_text(
            "failed", timeout=PIPELINE_TIMEOUT_S * 1000
        )
        page.wait_for_function(SHOWN_THUMBNAIL)
        replay = page.locator("#dead button", has_text="replay").first
        replay.click()
        expect(page.locator("#dead button", has_text="replayed")).to_have_count(1)
        page.goto(f"{base}/#images")
        expect(page.locator("#gallery .tile")).to_have_count(2)
        wait_until(lambda: any("/replay" in line for line in lines), 10, "the replay in the access log")
    session = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "imagepipe_session")
    events = repr(redis_client.xrange(settings.events_stream))

    # the log has the whole session, and none of its credentials
    log = "\n".join(lines)
    for route in ("POST /session", "GET /events", "POST /uploads", "POST /images", "GET /media/", "/replay"):
        assert route in log, f"{route} missing from the access log"
    for secret in (ADMIN, session, "token="):
        assert secret not in log, f"{secret!r} in the access log"
        assert secret not in events, f"{secret!r} in the events stream"
        assert not [url for url in requested if secret in url], f"{secret!r} in a URL the page requested"
    assert any(url == f"{base}/events" for url in requested)  # EventSource: the cookie, no query
    assert DeadLetter.select().first().replay_count == 1


def test_a_token_in_a_url_is_refused_and_filtered_out_of_the_access_log(serve):
    api = serve(log_level="info", api_token=ADMIN)
    with access_log() as lines:
        refused = api.get("/images", params={"token": ADMIN, "page": "1"})
        wait_until(lambda: lines, 5, "the access log line")
    assert refused.status_code == 400 and "Authorization: Bearer" in refused.json()["error"]
    assert ADMIN not in lines[0] and "token=[Filtered]&page=1" in lines[0] and " 400" in lines[0]


class Attacker(http.server.BaseHTTPRequestHandler):
    pages: dict = {}

    def do_GET(self):
        body = self.pages.get(self.path.split("?")[0], "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def attacker_site(pages):
    Attacker.pages = pages
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


ATTACK = """<!doctype html><script>
const V = "__VICTIM__", jpeg = Uint8Array.from(atob("__JPEG__"), (c) => c.charCodeAt(0));
const tries = {
  upload: () => { const f = new FormData(); f.append("file", new Blob([jpeg], {type: "image/jpeg"}), "evil.jpg");
                  return fetch(V + "/images", {method: "POST", body: f, credentials: "include", mode: "no-cors"}); },
  confirm: () => fetch(V + "/images", {method: "POST", credentials: "include", mode: "no-cors",
                  headers: {"Content-Type": "text/plain"}, body: '{"key": "sources/x/a.jpg"}'}),
  replay: () => fetch(V + "/dead-letters/__DEAD__/replay", {method: "POST", credentials: "include", mode: "no-cors"}),
  cancel: () => fetch(V + "/images/__IMAGE__/cancel", {method: "POST", credentials: "include", mode: "no-cors"}),
  purge: () => fetch(V + "/purge", {method: "POST", credentials: "include", mode: "no-cors"}),
  delete: () => fetch(V + "/images/__IMAGE__", {method: "DELETE", credentials: "include"}),
  read: () => fetch(V + "/images", {credentials: "include"}).then((r) => r.json()),
};
(async () => {
  const results = {};
  for (const [name, attempt] of Object.entries(tries)) {
    try {
      const answer = await attempt();
      results[name] = answer.type === "opaque" ? "sent, answer hidden" : JSON.stringify(answer);
    }
    catch (err) { results[name] = "blocked by the browser: " + err.message; }
  }
  window.results = results;
})();
</script>
<form id="f" method="post" action="__VICTIM__/images/__IMAGE__/cancel"></form>"""
FORM_POST = """<!doctype html><body><form id="f" method="post" action="__VICTIM__/images/__IMAGE__/cancel"></form>
<script>document.getElementById("f").submit();</script></body>"""


@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])  # same site other port; another site
def test_another_origins_page_cannot_write_with_the_victims_session(serve, open_page, corpus, attacker_host):
    api = serve(log_level="info", api_token=ADMIN, read_token=READ, retain_failed_images_days=1.0)
    victim = str(api.base_url).rstrip("/")
    image = register_image("sources/x/kept.jpg", "kept.jpg")
    dead = DeadLetter.create(
        actor="ingest", queue="images", message_id="m1", image_id=image.id, error_type="Boom", error="boom",
        traceback="", attempts=1, message="{}",
    )  # fmt: skip
    fill = {"__VICTIM__": victim, "__IMAGE__": str(image.id), "__DEAD__": str(dead.id),
            "__JPEG__": base64.b64encode((corpus / "formats" / "hopper.jpg").read_bytes()).decode()}  # fmt: skip
    pages = {"/attack.html": ATTACK, "/form.html": FORM_POST}
    for name, text in pages.items():
        for key, value in fill.items():
            text = text.replace(key, value)
        pages[name] = text
    page = open_page()
    sign_in(page, victim, ADMIN)  # the victim's browser holds an admin session
    with attacker_site(pages) as port, access_log() as lines:
        page.goto(f"http://{attacker_host}:{port}/attack.html")
        results = page.wait_for_function("() => window.results").json_value()
        page.goto(f"http://{attacker_host}:{port}/form.html")
        page.wait_for_url(f"{victim}/**")
        wait_until(lambda: sum(f"/images/{image.id}/cancel" in line for line in lines) >= 2, 10, "both cancel attempts")
    written = [line for line in lines if not ('"GET ' in line or '"OPTIONS ' in line)]
    assert len(written) >= 6, lines  # upload, confirm, replay, cancel twice, purge reached the server
    assert all(line.rstrip().endswith((" 403", " 401")) for line in written), written
    assert not any(f'"DELETE /images/{image.id}' in line for line in lines)  # its preflight failed: never sent
    assert results["delete"].startswith("blocked by the browser") and results["read"].startswith("blocked")
    assert Image.select().count() == 1 and Image.get_by_id(image.id).status == Image.QUEUED
    assert DeadLetter.get_by_id(dead.id).replay_count == 0


def test_a_read_session_is_not_shown_what_it_may_not_do(serve, open_page):
    from playwright.sync_api import expect

    api = serve(api_token=ADMIN, read_token=READ)
    base = str(api.base_url).rstrip("/")
    image = register_image("sources/x/waiting.jpg", "waiting.jpg")
    DeadLetter.create(
        actor="ingest", queue="images", message_id="m1", image_id=image.id, error_type="Boom", error="boom",
        traceback="", attempts=1, message="{}",
    )  # fmt: skip
    page = open_page()
    sign_in_with_the_form(page, base, READ)
    expect(page.locator("#session-scope")).to_have_text("signed in (read only)")
    expect(page.locator("#dead li")).to_have_count(1)
    assert page.locator("#drop").is_hidden() and page.locator("#dead button").count() == 0
    page.goto(f"{base}/#images/{image.id}")
    expect(page.locator("#detail .detail-head h2")).to_have_text("waiting.jpg")
    assert page.locator("#detail button.action").count() == 0
    page.goto(f"{base}/#operations")
    expect(page.locator("#failures li")).to_have_count(1)
    assert page.locator("#failures button", has_text="replay").count() == 0
