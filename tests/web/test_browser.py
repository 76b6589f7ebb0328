"""The page in real headless Chromium: an upload runs live to 100 % and shows its thumbnails."""

import re
import shutil

import pytest

from imagepipe.samples import make_photo, save_jpeg

DONE_TIMEOUT_MS = 20_000
# The desktop shot is the one the README and a reviewer look at; the phone one proves the layout.
VIEWPORTS = {
    "desktop": ({"viewport": {"width": 1280, "height": 800}}, "/tmp/imagepipe-browser.png"),
    "phone": (
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
        "/tmp/imagepipe-browser-phone.png",
    ),
}

# Every width the card's bar takes, in order, recorded in the page as the SSE events arrive.
RECORD_BAR_WIDTHS = """() => {
  window.barWidths = [];
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.target.matches(".card .bar i")) window.barWidths.push(record.target.style.width);
    }
  }).observe(document.getElementById("cards"), {attributes: true, attributeFilter: ["style"], subtree: true});
}"""

# True when the point a person would click on the drop zone's headline shows that headline.
HEADLINE_ON_TOP = """(headline) => {
  const box = headline.getBoundingClientRect();
  const drop = headline.closest("#drop").getBoundingClientRect();
  const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return hit === headline && box.top >= drop.top && box.bottom <= drop.bottom;
}"""

THUMBS_LOADED = """(card) => {
  const imgs = [...card.querySelectorAll(".thumbs img")];
  return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0);
}"""


@pytest.fixture
def photo(tmp_path):
    """A 2000x1500 JPEG, wide enough for every variant width (variants are never upscaled)."""
    path = tmp_path / "browser photo.jpg"
    save_jpeg(make_photo(2000, 1500), path)
    return path


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_an_upload_on_the_page_reaches_100_percent_and_shows_its_thumbnails(
    api, open_page, photo, settings, tmp_path, device
):
    from playwright.sync_api import expect

    options, shared_copy = VIEWPORTS[device]
    page = open_page(**options)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{api.base_url}/")
    expect(page.locator("#dead .empty")).to_have_text("none")  # the page's first API call answered
    headline = page.locator("#drop strong")
    expect(headline).to_have_text("Drop images here")
    assert headline.evaluate(HEADLINE_ON_TOP), "the drop zone's headline is covered or outside its box"
    page.evaluate(RECORD_BAR_WIDTHS)

    # when a person picks a real JPEG with the page's file input
    page.set_input_files("#picker", photo)

    # then its card follows the SSE events to completed, with the bar at 100 %
    card = page.locator("#cards .card")
    expect(card).to_have_count(1)
    expect(card.locator(".name")).to_have_text(photo.name)
    expect(card.locator(".status")).to_have_text("completed", timeout=DONE_TIMEOUT_MS)
    expect(card).to_have_class(re.compile(r"\bcompleted\b"))
    expect(card.locator(".bar i")).to_have_attribute("style", re.compile(r"width: 100%"))
    widths = page.evaluate("window.barWidths")
    # the upload's own progress (to the bucket, or the app's form), queued, then the live steps
    queued = widths.index("2%")
    assert widths[:queued] and widths[queued - 1] == "100%" and widths[-1] == "100%", widths
    assert any(0 < float(width.rstrip("%")) < 100 for width in widths[queued + 1 : -1]), widths
    expect(card.locator(".detail")).to_contain_text("JPEG 2000×1500")
    expect(card.locator(".detail")).to_contain_text("6 variants; saved")
    expect(card.locator(".error")).to_have_text("")

    # and every variant's thumbnail is shown, decoded by the browser at its own width
    thumbs = card.locator(".thumbs img")
    expected = len(settings.variant_widths) * len(settings.variant_formats)
    expect(thumbs).to_have_count(expected)
    for index in range(expected):
        thumbs.nth(index).scroll_into_view_if_needed()  # they load lazily, as a person scrolls
    page.wait_for_function(THUMBS_LOADED, arg=card.element_handle(), timeout=DONE_TIMEOUT_MS)
    loaded = thumbs.evaluate_all("(imgs) => imgs.map((img) => [img.alt, img.naturalWidth])")
    for alt, natural_width in loaded:
        assert alt == f"{natural_width}px {alt.split()[1]}", loaded
    assert sorted({natural for _, natural in loaded}) == sorted(settings.variant_widths)

    # and the layout fits the viewport: nothing scrolls sideways (on a phone the panels stack)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if device == "phone":
        cards_box, dead_box = page.locator("#cards").bounding_box(), page.locator("aside").bounding_box()
        assert dead_box["y"] >= cards_box["y"] + cards_box["height"], (cards_box, dead_box)
    assert errors == []

    page.evaluate("window.scrollTo(0, 0)")
    screenshot = tmp_path / f"imagepipe-{device}.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 10_000
    shutil.copyfile(screenshot, shared_copy)


def test_the_page_searches_shows_tags_and_similar_images(api, open_page, corpus, photo, tmp_path):
    from playwright.sync_api import expect

    page = open_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{api.base_url}/")
    expect(page.locator("#dead .empty")).to_have_text("none")
    # given: two uploads through the page, a GPS photo taken in Arezzo and a generated photo
    page.set_input_files("#picker", [corpus / "camera" / "DSCN0010.jpg", photo])
    cards = page.locator("#cards .card")
    expect(cards).to_have_count(2)
    for index in range(2):
        expect(cards.nth(index).locator(".status")).to_have_text("completed", timeout=DONE_TIMEOUT_MS)
    arezzo = page.locator("#cards .card").filter(has=page.locator(".name", has_text="DSCN0010.jpg"))
    # then: its card shows its tags, and the other image among its similar ones
    expect(arezzo.locator(".tags span", has_text="tuscany")).to_have_count(1)
    expect(arezzo.locator(".similar img")).to_have_count(1)
    # when: a person searches for the place
    page.fill("#query", "photos from Tuscany")
    page.click("#search button")
    # then: the Arezzo photo comes first, its thumbnail loaded, its words in its title
    first = page.locator("#results figure").first
    expect(first.locator("figcaption")).to_have_text("DSCN0010.jpg")
    expect(first).to_have_attribute("title", re.compile("Arezzo, Tuscany, Italy"))
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=first.locator("img").element_handle())
    page.fill("#query", "volcano")
    page.click("#search button")
    expect(page.locator("#results .empty")).to_have_text("nothing found for “volcano”")
    page.fill("#query", "photos from Tuscany")
    page.click("#search button")
    expect(page.locator("#results figure").first.locator("figcaption")).to_have_text("DSCN0010.jpg")
    assert errors == []
    screenshot = tmp_path / "imagepipe-search.png"
    page.screenshot(path=screenshot, full_page=True)
    shutil.copyfile(screenshot, "/tmp/imagepipe-search.png")


def test_a_tab_follows_more_uploads_than_its_stream_limit_on_its_one_stream(serve, worker, open_page, tmp_path):
    from playwright.sync_api import expect

    api = serve(web_max_streams_per_client=2)
    photos = []
    for index in range(5):
        path = tmp_path / f"photo {index}.jpg"
        save_jpeg(make_photo(320 + index, 240), path)
        photos.append(path)
    page = open_page(viewport={"width": 1280, "height": 900})
    streams = []
    page.on("request", lambda request: "/events" in request.url and streams.append(request.url))
    page.goto(f"{api.base_url}/")
    expect(page.locator("#dead .empty")).to_have_text("none")
    page.set_input_files("#picker", photos)
    cards = page.locator("#cards .card")
    expect(cards).to_have_count(5)
    for index in range(5):
        expect(cards.nth(index).locator(".status")).to_have_text("completed", timeout=DONE_TIMEOUT_MS * 2)
    assert streams == [f"{api.base_url}/events"]  # five cards, one stream, within a limit of two
