"""Signed media URLs against the real server: with a token configured, a local variant is
served only to a valid, unexpired signature of its own path; without one, /media/ stays open."""

import dataclasses
import io
import time

import pytest
from PIL import Image as PILImage

from models import Variant, register_image
from web.signing import MIN_GRID_S, UrlSigner, derive_key, media_signer

TOKEN = "media-secret"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
KEY = "variants/1/640-0123456789ab.webp"
PATH = f"/media/{KEY}"
OTHER_KEY = "variants/1/1024-ba9876543210.webp"

LOCAL = pytest.mark.parametrize("storage", ["local"], indirect=True)  # S3 has presigned URLs


@pytest.fixture
def variants(storage):
    """Two WebP variants written into local storage; their bytes."""
    stored = {}
    for key, width in ((KEY, 64), (OTHER_KEY, 96)):
        body = io.BytesIO()
        PILImage.new("RGB", (width, 48), "teal").save(body, "WEBP")
        storage.put(key, body.getvalue(), content_type="image/webp")
        stored[key] = body.getvalue()
    return stored


@pytest.fixture
def signer(settings):
    """The signer the server uses for TOKEN (the same derivation, the same expiry)."""
    return media_signer(dataclasses.replace(settings, api_token=TOKEN))


def query(url):
    return dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))


@LOCAL
def test_the_api_hands_out_signed_urls_that_work_without_a_token(serve, variants):
    # given: an image with a variant in local storage, and a server behind a token
    image = register_image("tests/signed.jpg", "signed.jpg")
    Variant.create(image=image, label="640w", format="webp", width=64, height=48, bytes=len(variants[KEY]), path=KEY)
    api = serve(api_token=TOKEN)
    # when: the API gives the variant's URL
    (variant,) = api.get(f"/images/{image.id}", headers=AUTHORIZED).json()["variants"]
    # then: it is signed with an expiry, carries no token, and a client without a header gets the file
    assert f"{PATH}?expires=" in variant["url"] and "&signature=" in variant["url"]
    assert TOKEN not in variant["url"] and "token=" not in variant["url"]
    response = api.get(variant["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp" and response.content == variants[KEY]
    # and the gallery's thumbnail is the same URL: one grid step gives one URL, which browsers cache
    (tile,) = api.get("/images", headers=AUTHORIZED).json()["images"]
    assert tile["thumbnail"] == variant["url"]


@LOCAL
@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda url: url.split("?")[0], "not signed"),
        (lambda url: url.replace("signature=", "signature=0", 1)[:-1], "bad signature"),
        (lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"), "bad signature"),  # one byte changed
        (lambda url: url.replace(KEY, OTHER_KEY), "bad signature"),  # the same signature on another path
        (lambda url: url.replace("expires=", "expires=9"), "bad signature"),  # a longer life
        (lambda url: url.replace("&signature=", "&signature=&x="), "not signed"),
        (lambda url: url + "%00", "bad signature"),
    ],
    ids=["unsigned", "shifted", "one-byte", "other-path", "other-expiry", "empty", "nul"],
)
def test_a_tampered_url_is_refused(serve, variants, signer, tamper, reason):
    api = serve(api_token=TOKEN)
    url = signer.sign(PATH)
    assert api.get(url).status_code == 200
    response = api.get(tamper(url))
    assert response.status_code == 403, response.text
    assert reason in response.json()["error"]
    assert signer.sign(PATH).split("signature=")[1] not in response.text  # the expected value never leaks


@LOCAL
def test_an_expired_url_is_refused_even_with_its_correct_signature(serve, variants):
    api = serve(api_token=TOKEN)
    # a signature made by the server's own key, for an expiry already past
    past = UrlSigner(derive_key(TOKEN, "media urls"), expiry_s=60).sign(PATH, now=time.time() - 3600)
    response = api.get(past)
    assert response.status_code == 403 and "expired" in response.json()["error"]


@LOCAL
def test_a_url_stops_working_when_its_expiry_passes(serve, variants, settings):
    # given: URLs that live one grid step at least (expiry 1 s, rounded up to the 60 s grid)
    api = serve(api_token=TOKEN, url_expiry_s=1)
    signer = media_signer(dataclasses.replace(settings, api_token=TOKEN, url_expiry_s=1))
    now = time.time()
    url = signer.sign(PATH, now=now)
    expires = int(query(url)["expires"])
    assert now + 1 <= expires <= now + 1 + MIN_GRID_S and expires % MIN_GRID_S == 0
    assert api.get(url).status_code == 200
    # when: the same path is signed for an earlier time, so its expiry is a grid step back
    earlier = signer.sign(PATH, now=expires - 2 * MIN_GRID_S - 1)
    # then: it is refused as expired
    assert int(query(earlier)["expires"]) < now
    assert "expired" in api.get(earlier).json()["error"]


@LOCAL
def test_a_signature_from_another_token_is_refused(serve, variants, settings):
    api = serve(api_token=TOKEN)
    forged = media_signer(dataclasses.replace(settings, api_token="another token")).sign(PATH)
    assert api.get(forged).status_code == 403
    assert api.get(f"{PATH}?token={TOKEN}").status_code == 400  # the API token is no media credential, nor in a URL


@LOCAL
def test_a_source_key_is_404_even_when_signed(serve, variants, signer, storage):
    storage.put("sources/00/photo.jpg", variants[KEY], content_type="image/jpeg")
    api = serve(api_token=TOKEN)
    assert api.get(signer.sign("/media/sources/00/photo.jpg")).status_code == 404
    assert api.get(signer.sign("/media/variants/1/missing.webp")).status_code == 404


@LOCAL
def test_without_a_token_media_urls_stay_unsigned_and_open(serve, variants):
    image = register_image("tests/open.jpg", "open.jpg")
    Variant.create(image=image, label="640w", format="webp", width=64, height=48, bytes=len(variants[KEY]), path=KEY)
    api = serve()
    (variant,) = api.get(f"/images/{image.id}").json()["variants"]
    assert variant["url"] == f"{api.base_url}{PATH}"
    assert api.get(PATH).status_code == 200


def test_expiries_fall_on_a_grid_of_a_quarter_of_the_lifetime():
    signer = UrlSigner(b"k" * 32, expiry_s=3600)
    assert signer.step_s == 900
    # every URL made within one step of the grid is the same URL, living 3600 to 4500 s
    urls = {signer.sign(PATH, now=t) for t in (100_800.5, 101_000, 101_700)}
    assert len(urls) == 1
    assert int(query(urls.pop())["expires"]) == 100_800 + 900 + 3600
    assert UrlSigner(b"k" * 32, expiry_s=10).step_s == MIN_GRID_S


def test_keys_are_derived_per_purpose():
    assert derive_key("t", "media urls") != derive_key("t", "sessions") != derive_key("u", "sessions")
    assert derive_key("t", "media urls") == derive_key("t", "media urls") and len(derive_key("t", "x")) == 32
