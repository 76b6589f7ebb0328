"""Markup in names and failure reasons, shown by the page in real Chromium: it is text, never
a tag. The uploads go through the real server (behind a token) and a real in-process worker;
the page's strict CSP would block an injected script, so the test listens for both: a script
that ran (``window.__xss``, a dialog) and a script that CSP had to block (a violation report, see ``watched``).
"""

import dataclasses

import httpx
import pytest

from imagepipe.samples import make_photo, save_jpeg
from models import DeadLetter, Image, fail_step, register_image, start_step
from tests.helpers import finish
from tests.security.conftest import assert_clean

TOKEN = "markup-secret"
PHOTO_NAME = '<img src=x onerror="window.__xss=1">.jpg'
BROKEN_NAME = "<script>window.__xss=2</script>.jpg"
REASON = '<img src=x onerror="window.__xss=3"><script>window.__xss=4</script> & <b>bold</b>'
TIMEOUT_MS = 30_000


@dataclasses.dataclass
class Shown:
    photo: int
    broken: int
    written: int


def upload(api, data, name):
    """A file uploaded as the page does (a form for one key, then the key confirmed); its id."""
    issued = api.post("/uploads", json={"name": name, "content_type": "image/jpeg", "bytes": len(data)})
    assert issued.status_code == 201, issued.text
    form = issued.json()["upload"]
    sent = httpx.post(form["url"], data=form["fields"], files={"file": ("upload.jpg", data, "image/jpeg")})
    assert sent.status_code == 204, sent.text
    confirmed = api.post("/images", json={"key": issued.json()["key"], "name": name})
    assert confirmed.status_code == 202, confirmed.text
    return confirmed.json()["id"]


@pytest.fixture
def shown(serve, worker, storage, tmp_path):
    """Behind TOKEN: a valid JPEG and a corrupt file with markup names, processed by the worker,
    and a failed image with its dead letter whose error and traceback are markup."""
    api = serve(api_token=TOKEN)
    api.headers["Authorization"] = f"Bearer {TOKEN}"
    photo = upload(api, save_jpeg(make_photo(900, 600), tmp_path / "photo.jpg").read_bytes(), PHOTO_NAME)
    broken = upload(api, b"\xff\xd8\xff\xe0 not really a JPEG", BROKEN_NAME)
    assert {i: row.status for i, row in finish([photo, broken]).items()} == {photo: "completed", broken: "failed"}
    written = register_image("tests/written.jpg", REASON).id
    start_step(written, "ingest")
    fail_step(written, "ingest", REASON)
    DeadLetter.create(
        message_id="markup-1", queue="images", actor="ingest", image_id=written, error_type="CorruptImage",
        error=REASON, traceback=f"Traceback (most recent call last):\n  {REASON}", message="{}", attempts=1,
    )  # fmt: skip
    return Shown(photo, broken, written), api


def assert_nothing_ran(page, seen):
    assert page.evaluate("window.__xss") is None
    assert_clean(page, seen)


@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_markup_in_names_and_failure_reasons_is_shown_as_text_and_never_runs(shown, watched):
    from playwright.sync_api import expect

    (ids, api) = shown
    base = str(api.base_url)
    page = watched(f"{base}/#images", token=TOKEN)

    # the gallery: both names and the written reason as text, the photo's thumbnail loaded
    gallery = page.locator("#gallery")
    expect(gallery.locator(".tile")).to_have_count(3, timeout=TIMEOUT_MS)
    expect(gallery.locator(f'.tile[data-id="{ids.photo}"] .name')).to_have_text(PHOTO_NAME)
    expect(gallery.locator(f'.tile[data-id="{ids.broken}"] .name')).to_have_text(BROKEN_NAME)
    expect(gallery.locator(f'.tile[data-id="{ids.written}"] .error')).to_have_text(REASON)
    thumb = gallery.locator(f'.tile[data-id="{ids.photo}"] img')
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert "signature=" in thumb.get_attribute("src") and TOKEN not in thumb.get_attribute("src")
    assert '<img src=x onerror="window.__xss=1">' in gallery.inner_text()
    assert gallery.locator("script, b, img:not(.pic)").count() == 0  # no element came from a name

    # the dead letters beside the gallery, their whole text opened in place
    dead = page.locator("#dead")
    expect(dead).to_contain_text(f"CorruptImage: {REASON}", timeout=TIMEOUT_MS)
    dead.locator("details summary").first.click()
    expect(dead.locator("details pre").first).to_contain_text(REASON)
    assert dead.locator("script, b, img").count() == 0
    assert_nothing_ran(page, watched.seen)

    # the detail view of each image: its name, its reason, its steps' errors
    for image_id, text in ((ids.photo, PHOTO_NAME), (ids.broken, BROKEN_NAME), (ids.written, REASON)):
        page.goto(f"{base}/#images/{image_id}")
        detail = page.locator("#detail")
        expect(detail.locator("h2").first).to_have_text(text, timeout=TIMEOUT_MS)
        if image_id == ids.written:
            expect(detail.locator(".error").first).to_have_text(REASON)
            expect(detail.locator("td .err")).to_have_text(REASON)
        if image_id == ids.photo:
            hero = detail.locator("img.hero")
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=hero.element_handle())
        assert detail.locator("script, b").count() == 0 and detail.locator("img:not(.hero)").count() == 0
    assert_nothing_ran(page, watched.seen)

    # the operations view's latest failures, opened
    page.goto(f"{base}/#operations")
    failures = page.locator("#failures")
    expect(failures).to_contain_text(REASON, timeout=TIMEOUT_MS)
    for summary in failures.locator("details summary").all():
        summary.click()
    expect(failures.locator("details pre").first).to_contain_text("Traceback")
    assert "window.__xss=4</script>" in failures.inner_text()
    assert failures.locator("script, b, img").count() == 0
    assert_nothing_ran(page, watched.seen)
    assert Image.get_by_id(ids.written).error == REASON  # the text itself was stored unchanged
