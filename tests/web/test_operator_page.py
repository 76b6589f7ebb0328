"""The operator's page in real headless Chromium: the gallery, one image, and the operations view.

One app server (behind a token), one real `dramatiq` worker process, one database and one
Redis for the whole module: the images processed first are the history every test reads.
Screenshots go to /tmp/page-shots/.
"""

import dataclasses
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from imagepipe.graph import PIPELINE
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import stop_worker
from tests.helpers import finish, register, start_test_worker, submit, unfinished_steps, wait_until
from tests.web.conftest import running_server, sign_in

TOKEN = "page-secret"
EMBED_LIMIT = "100/m"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
#: The page's gallery page size (PER_PAGE in web/page.html).
PER_PAGE = 24
#: Images registered but never sent: they stay queued, and fill the gallery past one page.
WAITING = PER_PAGE - 2
DONE_TIMEOUT_MS = 30_000
SHOTS = Path("/tmp/page-shots")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@dataclasses.dataclass
class Site:
    url: str
    client: httpx.Client
    photos: list
    broken: int
    worker_pid: int
    slow_marker: Path
    storage: object

    def page_url(self, route=""):
        return f"{self.url}/{route}"


@pytest.fixture(scope="module")
def site(tmp_path_factory, redis_url, settings):
    """Two photos completed and one corrupt file failed by a real worker before any tab opens,
    and WAITING images registered after them; the app serves it all behind TOKEN."""
    import redis

    import actors
    from imagepipe.storage import LocalStorage, bind_storage
    from models import bind_database, database, migrate_schema
    from web.app import create_app

    folder = tmp_path_factory.mktemp("operator-page")
    media = folder / "media"
    media.mkdir()
    database_url = f"sqlite:///{folder / 'imagepipe.db'}"
    redis.Redis.from_url(redis_url).flushdb()
    bind_database(database_url)
    migrate_schema()
    storage = LocalStorage(media)
    bind_storage(storage)
    actors.broker.flush_all()
    env = {
        "REDIS_URL": redis_url, "BROKER_URL": redis_url, "DATABASE_URL": database_url, "MEDIA_ROOT": str(media),
        "IMAGEPIPE_STORAGE_URL": storage.address, "IMAGEPIPE_HEARTBEAT_INTERVAL_S": "1",
        # the metadata step takes 60 s while this file exists; an interrupted one ends at once
        "IMAGEPIPE_TEST_SLOW_MARKER": str(folder / "slow"), "IMAGEPIPE_SHUTDOWN_TIMEOUT_S": "1",
        "IMAGEPIPE_RATE_LIMITS": f"embed={EMBED_LIMIT}",  # a budget for the rate-limit table to show
    }  # fmt: skip
    worker = start_test_worker(env, processes=1, threads=2)
    app_settings = dataclasses.replace(
        settings, database_url=database_url, api_token=TOKEN, rate_limits={"embed": EMBED_LIMIT}
    )
    app = create_app(app_settings, bind=False)
    try:
        with running_server(app) as url, httpx.Client(base_url=url, headers=AUTHORIZED, timeout=30) as client:
            photos, broken = _history(storage, folder)
            wait_until(lambda: client.get("/api/workers").json()["workers"], 30, "the worker's heartbeat")
            (worker_row,) = client.get("/api/workers").json()["workers"]
            yield Site(url, client, photos, broken, worker_row["pid"], folder / "slow", storage)
    finally:
        stop_worker(worker)
        actors.broker.flush_all()  # the delayed message the operations test left
        bind_storage(None)
        database.close()


def _history(storage, folder):
    """Two photos completed and a corrupt file failed by the worker, then WAITING images that
    are registered and never sent; (photo ids oldest first, the failed one's id)."""
    photos = []
    for seed in (1, 2):
        path = save_jpeg(make_photo(1100, 825, seed=seed), folder / f"before tab {seed}.jpg")
        photos.append(submit(storage, path))
    broken_path = folder / "broken.jpg"
    broken_path.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    broken = submit(storage, broken_path)
    finish([*photos, broken])
    for n in range(WAITING):
        register(storage, folder / "before tab 1.jpg", name=f"waiting {n:02}.jpg")
    return photos, broken


@pytest.fixture
def errors():
    return []


@pytest.fixture
def browse(open_page, errors):
    """``browse(url, **context_options)`` -> a page at ``url`` whose script errors land in ``errors``."""

    def open_(url, **options):
        page = open_page(**(options or DESKTOP))
        page.on("pageerror", lambda error: errors.append(str(error)))
        origin = urlsplit(url)
        sign_in(page, f"{origin.scheme}://{origin.netloc}", TOKEN)
        page.goto(url)
        return page

    return open_


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def tile(page, image_id):
    return page.locator(f'#gallery .tile[data-id="{image_id}"]')


def test_the_gallery_lists_earlier_images_filters_by_status_and_pages(site, browse, errors):
    from playwright.sync_api import expect

    # when: the tab opens after the images were processed
    page = browse(site.page_url())
    tiles = page.locator("#gallery .tile")

    # then: the first page holds the newest PER_PAGE of the PER_PAGE + 1 images, newest first
    expect(tiles).to_have_count(PER_PAGE)
    expect(page.locator("#page-info")).to_have_text(f"page 1 of 2 · {WAITING + 3} images")
    ids = tiles.evaluate_all("(tiles) => tiles.map((tile) => Number(tile.dataset.id))")
    assert ids == sorted(ids, reverse=True) and site.photos[0] not in ids
    done = tile(page, site.photos[1])
    expect(done.locator(".status")).to_have_text("completed")
    expect(done.locator(".facts").first).to_have_text(re.compile(r"^JPEG 1100×825 · \d+ kB$"))
    listed = site.client.get("/images", params={"status": "completed"}).json()["images"]
    saved = next(row for row in listed if row["id"] == site.photos[1])["saved_bytes"]
    source_bytes = site.client.get(f"/images/{site.photos[1]}").json()["bytes"]
    expect(done.locator(".saved")).to_contain_text(f"({int(100 * saved / source_bytes + 0.5)} %)")
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 640", arg=done.locator("img").element_handle()
    )
    failed = tile(page, site.broken)
    expect(failed.locator(".status")).to_have_text("failed")
    expect(failed.locator(".error")).not_to_be_empty()
    shot(page, "desktop-gallery")

    # when: the operator pages on; then: the oldest image is there alone, and the address says so
    page.click("#next-page")
    expect(tiles).to_have_count(1)
    expect(tile(page, site.photos[0]).locator(".status")).to_have_text("completed")
    expect(page.locator("#page-info")).to_have_text(f"page 2 of 2 · {WAITING + 3} images")
    assert page.evaluate("location.hash") == "#images?page=2"
    expect(page.locator("#next-page")).to_be_disabled()

    # when: they filter by status; then: only those images, from page 1 again
    page.select_option("#status-filter", "failed")
    expect(tiles).to_have_count(1)
    expect(tile(page, site.broken)).to_have_count(1)
    page.select_option("#status-filter", "completed")
    expect(tiles).to_have_count(2)
    assert tiles.evaluate_all("(tiles) => tiles.map((tile) => Number(tile.dataset.id))") == site.photos[::-1]
    page.select_option("#status-filter", "queued")
    expect(tiles).to_have_count(WAITING)
    expect(tiles.locator(".status", has_text="queued")).to_have_count(WAITING)

    # and a reload keeps the view: the same filtered images, read again from the server
    page.reload()
    expect(page.locator("#status-filter")).to_have_value("queued")
    expect(tiles).to_have_count(WAITING)
    assert errors == []


def test_a_new_upload_appears_in_the_open_gallery_and_completes_without_a_reload(site, browse, errors, tmp_path):
    from playwright.sync_api import expect

    page = browse(site.page_url("#images?status=completed"))
    tiles = page.locator("#gallery .tile")
    expect(tiles).to_have_count(len(site.photos))
    page.evaluate("window.sameDocument = true")
    path = save_jpeg(make_photo(1000, 750, seed=3), tmp_path / "live upload.jpg")

    page.set_input_files("#picker", path)

    # then: the completed filter gains the new image live, first, with its thumbnail
    expect(tiles).to_have_count(len(site.photos) + 1, timeout=DONE_TIMEOUT_MS)
    newest = tiles.first
    expect(newest.locator(".name")).to_have_text("live upload.jpg")
    expect(newest.locator(".status")).to_have_text("completed")
    expect(newest.locator("img")).to_have_attribute("src", re.compile(r"/media/variants/"))
    assert page.evaluate("window.sameDocument") is True  # no reload happened
    # and the upload's own card still runs to completed, as before
    expect(page.locator("#cards .card .status")).to_have_text("completed", timeout=DONE_TIMEOUT_MS)
    assert errors == []
    # the module's other tests count the images made before the tab: this one goes again
    assert site.client.delete(f"/images/{newest.get_attribute('data-id')}").status_code == 204


def test_the_detail_view_shows_variants_metadata_words_and_steps(site, browse, errors):
    from playwright.sync_api import expect

    image_id = site.photos[1]
    body = site.client.get(f"/images/{image_id}").json()
    page = browse(site.page_url())
    tile(page, image_id).click()

    assert page.evaluate("location.hash") == f"#images/{image_id}"
    detail = page.locator("#detail")
    expect(detail.locator(".detail-head h2")).to_have_text(body["name"])
    expect(detail.locator(".detail-head .status")).to_have_text("completed")
    variants = detail.locator("section", has=page.locator("h2", has_text="Variants")).locator("tbody tr")
    expect(variants).to_have_count(len(body["variants"]))
    for row, variant in zip(variants.all(), body["variants"], strict=True):
        expect(row.locator("td").first).to_have_text(f"{variant['width']}px {variant['format']}")
        expect(row.locator("td").nth(2)).to_have_text(f"{variant['width']}×{variant['height']}")
        href = row.locator("a").get_attribute("href")
        assert site.client.get(href).headers["content-type"] == f"image/{variant['format']}"
    metadata = detail.locator("section", has=page.locator("h2", has_text="Metadata"))
    expect(metadata.locator("dt", has_text="mode")).to_have_count(1)
    expect(metadata.locator("dd").nth(0)).to_have_text(body["metadata"]["mode"])
    words = detail.locator("section", has=page.locator("h2", has_text="Words"))
    expect(words.locator(".tags span")).to_have_count(len(body["words"]["tags"]))
    steps = detail.locator("section", has=page.locator("h2", has_text="Steps"))
    rows = steps.locator("tbody tr")
    expect(rows).to_have_count(len(body["steps"]))
    for row, step in zip(rows.all(), body["steps"], strict=True):
        expect(row.locator("td").first).to_have_text(step["name"])
        expect(row.locator("td").nth(2)).to_have_text(str(step["attempts"]))
        assert step["worker"]
        expect(row.locator("td").nth(6)).to_have_text(step["worker"])
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=detail.locator(".hero").element_handle()
    )
    shot(page, "desktop-detail")

    # and the back link returns to the gallery
    page.click("#detail-view .back")
    expect(page.locator("#gallery .tile")).to_have_count(PER_PAGE)
    assert errors == []


def test_the_operations_view_shows_a_real_queue_and_the_real_worker_and_survives_a_reload(
    site, browse, errors, redis_url, tmp_path
):
    import redis
    from playwright.sync_api import expect

    from actors import ingest
    from tests.worker_app import SLOW_STARTS_KEY

    # given: the real worker running a 60 s step, and a message delayed by a minute
    probe = redis.Redis.from_url(redis_url)
    site.slow_marker.touch()
    slow = submit(site.storage, save_jpeg(make_photo(700, 500, seed=4), tmp_path / "slow.jpg"))
    try:
        wait_until(lambda: probe.llen(SLOW_STARTS_KEY) == 1, 30, "the slow step to start")
        site.slow_marker.unlink()
        ingest.send_with_options(args=(site.photos[0],), delay=60_000)
        wait_until(lambda: _images_queue(site)["delayed"] == 1, 10, lambda: _images_queue(site))
        # the image's other steps end in a moment; then the slow one alone keeps the worker busy
        wait_until(
            lambda: _only_slow_step_left(slow) and _only_worker(site)["active"] == 1, 30, lambda: _only_worker(site)
        )
        worker = _only_worker(site)
        assert worker["pid"] == site.worker_pid
        page = browse(site.page_url("#operations"))

        for attempt in ("first load", "after reload"):
            # then: the images queue's figures are the API's, its running step held by that worker
            queue = _images_queue(site)
            assert (queue["delayed"], queue["dead_letters"]) == (1, 1)  # the corrupt file's dead letter
            holders = queue["in_flight_by_worker"]
            assert [holder["worker"] for holder in holders] == [worker["name"]], holders
            row = page.locator("#queues tbody tr", has=page.locator("td", has_text=re.compile("^images$")))
            for column, value in (("Ready", queue["ready"]), ("Delayed", 1), ("In flight", queue["in_flight"]),
                                  ("Dead letters", 1)):  # fmt: skip
                expect(row.locator(f'td[data-label="{column}"]')).to_have_text(str(value))
            expect(row.locator('td[data-label="By worker"]')).to_have_text(
                f"{worker['name']}: {holders[0]['in_flight']}"
            )
            # and the real worker, busy with that step
            worker_row = page.locator("#workers tbody tr")
            expect(worker_row).to_have_count(1)
            expect(worker_row.locator("td").first).to_have_text(worker["name"])
            expect(worker_row.locator('td[data-label="Active"]')).to_have_text("1")
            expect(worker_row.locator('td[data-label="Failed"]')).to_have_text(str(worker["failed"]))
            expect(page.locator("#failures li")).to_have_count(1)
            expect(page.locator("#failures li a")).to_have_attribute("href", f"#images/{site.broken}")
            # its dead letter, opened in place: the whole error and traceback
            page.click("#failures li details summary")
            expect(page.locator("#failures li details pre")).to_contain_text("Traceback (most recent call last)")
            _check_activity(site, page)
            _check_rate_limits(site, page)
            if attempt == "first load":
                shot(page, "desktop-operations")
                page.reload()
        assert errors == []
    finally:
        site.slow_marker.unlink(missing_ok=True)
        # the module's other tests count the images made before: the slow one goes again
        site.client.delete(f"/images/{slow}")


def _only_slow_step_left(image_id):
    left = {(name, status) for _, name, status, *_ in unfinished_steps([image_id])}
    return left == {("metadata", "processing"), ("embed", "queued")}


def _only_worker(site):
    (worker,) = site.client.get("/api/workers").json()["workers"]
    return worker


def _images_queue(site):
    return next(queue for queue in site.client.get("/api/queues").json()["queues"] if queue["name"] == "images")


def _check_activity(site, page):
    from playwright.sync_api import expect

    body = site.client.get("/api/activity").json()
    completed = sum(minute["images_completed"] for minute in body["minutes"])
    assert completed >= len(site.photos)
    expect(page.locator("#activity .chart").first.locator(".summary")).to_contain_text(f"{completed} completed")
    assert page.locator("#activity .chart").first.locator("rect").count() > 0
    expect(page.locator("#activity .durations .row")).to_have_count(len(body["steps"]))


def _check_rate_limits(site, page):
    from playwright.sync_api import expect

    keys = site.client.get("/api/rate-limits").json()["keys"]
    assert [(key["key"], key["limit"]) for key in keys] == [("embedding-api", 100)]
    row = page.locator("#rate-limits tbody tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("embedding-api")


@pytest.mark.parametrize("route", ["", "#images/{id}", "#operations"])
def test_each_view_fits_a_phone(site, browse, errors, route):
    from playwright.sync_api import expect

    page = browse(site.page_url(route.format(id=site.photos[1])), **PHONE)
    if route == "":
        expect(page.locator("#gallery .tile")).to_have_count(PER_PAGE)
        name = "phone-gallery"
    elif route == "#operations":
        expect(page.locator("#workers tbody tr")).to_have_count(1)
        name = "phone-operations"
    else:
        expect(page.locator("#detail .detail-head .status")).to_have_text("completed")
        page.wait_for_function("(img) => img.complete", arg=page.locator("#detail .hero").element_handle())
        name = "phone-detail"
    time.sleep(0.3)  # lazy images and the step table's layout settle
    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 14
    shot(page, name)
    assert errors == []


def test_a_waiting_image_can_be_cancelled_and_retried_from_its_detail_view(site, browse, errors, tmp_path):
    from playwright.sync_api import expect

    waiting = register(site.storage, save_jpeg(make_photo(300, 200), tmp_path / "to cancel.jpg"))
    try:
        page = browse(site.page_url(f"#images/{waiting}"))
        status = page.locator("#detail .detail-head .status")
        expect(status).to_have_text("queued")

        page.click("#detail .action")
        expect(status).to_have_text("cancelled", timeout=DONE_TIMEOUT_MS)
        expect(page.locator("#detail tbody tr", has_text="cancelled")).to_have_count(len(PIPELINE.names))

        page.click("#detail .action")  # now the Retry button: the worker takes it from the start
        expect(status).to_have_text("completed", timeout=DONE_TIMEOUT_MS)
        assert errors == []
    finally:
        site.client.delete(f"/images/{waiting}")


#: The page's poll interval (OPERATIONS_POLL_MS in web/page.html), and a margin past it
#: that is shorter than a second interval.
POLL_S = 5
PAST_A_POLL_S = POLL_S + 1.5
HIDE_TAB = """(state) => {
  Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_the_operations_view_polls_only_while_it_is_open_and_the_tab_visible(site, browse, errors):
    from playwright.sync_api import expect

    page = browse(site.page_url("#operations"))
    polls = []
    page.on("request", lambda request: polls.append(time.monotonic()) if "/api/queues" in request.url else None)
    expect(page.locator("#workers tbody tr")).to_have_count(1)
    polls.clear()  # the first load's, which may come after goto() (the page asks /session first)

    # while open and visible: a poll about every POLL_S
    page.wait_for_timeout(PAST_A_POLL_S * 1000)  # Playwright delivers request events meanwhile
    assert len(polls) == 1, polls

    # when the operator goes to the images: no more polls
    page.click("#tab-images")
    expect(page.locator("#gallery .tile").first).to_be_visible()
    before = len(polls)
    page.wait_for_timeout(PAST_A_POLL_S * 1000)  # Playwright delivers request events meanwhile
    assert len(polls) == before

    # when the view is open again but the tab is hidden: one load on opening, then nothing
    page.click("#tab-operations")
    page.wait_for_timeout(1000)
    assert len(polls) == before + 1
    page.evaluate(HIDE_TAB, "hidden")
    page.wait_for_timeout(PAST_A_POLL_S * 1000)  # Playwright delivers request events meanwhile
    assert len(polls) == before + 1

    # and visible again: it loads at once and polls on
    page.evaluate(HIDE_TAB, "visible")
    page.wait_for_timeout(1000)
    assert len(polls) == before + 2
    assert errors == []
