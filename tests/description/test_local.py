"""The local describer on real inputs: text drawn with a real font, the corpus' faces and GPS
photos, facts of a drawn screenshot against camera photos. No mocks: the real models run."""

import importlib.util
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw, ImageFont

from imagepipe.description import local
from imagepipe.description.places import distance_km, place_of
from imagepipe.errors import ConfigurationError, ImagePipeError
from imagepipe.imaging import load_upright
from imagepipe.samples import make_photo, save_jpeg
from tests.conftest import IN_CI

LIMITS = {"max_pixels": 100_000_000, "max_file_bytes": 100_000_000}
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FACE_FREE = [
    "orientation/Landscape_1.jpg",
    "orientation/Landscape_6.jpg",
    "orientation/Portrait_1.jpg",  # a person seen from behind: no frontal face
    "camera/Canon_40D.jpg",  # an iguana
    "camera/DSCN0010.jpg",  # Tuscan hills
    "camera/Nikon_D70.jpg",  # leaves
    "camera/Reconyx_HC500_Hyperfire.jpg",  # a snowy forest
    "camera/fujifilm-dx10.jpg",  # okonomiyaki and hands, no face
    "camera/jolla.jpg",  # a leaf against the light
    "formats/flower2.jpg",
]


def requires(*modules):
    """Skip when a part's package is missing, run by hand; fail under CI=true."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        message = f"not installed: {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def describe(path, *parts):
    return local.describe_locally(path, parts=parts, **LIMITS)


def text_box(draw, position, text, size):
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = draw.textbbox(position, text, font=font)
    draw.rectangle((left - 20, top - 20, right + 20, bottom + 20), fill="white")
    draw.text(position, text, font=font, fill="black")


@pytest.fixture(scope="module")
def sign_photo(tmp_path_factory):
    """A 4 MP photo-like JPEG with three lines drawn on white boxes, 150 down to 60 px high."""
    picture = make_photo(2400, 1600, seed=3)
    draw = ImageDraw.Draw(picture)
    text_box(draw, (150, 150), "ACME Receipt", 150)
    text_box(draw, (150, 500), "Total 42.50 EUR", 90)
    text_box(draw, (150, 750), "Harbour Street 7", 60)
    path = tmp_path_factory.mktemp("local") / "sign.jpg"
    save_jpeg(picture, path)
    return path


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory):
    """A drawn 1920x1080 PNG: flat title bar, sidebar and page, 22 px text lines."""
    picture = Image.new("RGB", (1920, 1080), (245, 245, 245))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 1920, 70), fill=(40, 60, 120))
    draw.rectangle((0, 70, 320, 1080), fill=(225, 228, 235))
    font = ImageFont.truetype(FONT, 22)
    draw.text((30, 18), "Dashboard", font=ImageFont.truetype(FONT, 32), fill="white")
    for row, line in enumerate(("Invoice 20931 from ACME", "Payment due in thirty days", "Thank you for your order")):
        draw.text((380, 140 + row * 60), line, font=font, fill=(30, 30, 30))
    path = tmp_path_factory.mktemp("local") / "screen.png"
    picture.save(path)
    return path


def test_drawn_text_is_read_back_and_searchable(sign_photo):
    """Every drawn line comes back, in reading order, and lands in the searchable text."""
    requires("rapidocr", "onnxruntime")
    words = describe(sign_photo, "ocr")
    assert words.ocr_text.splitlines() == ["ACME Receipt", "Total 42.50 EUR", "Harbour Street 7"]
    assert "text" in words.tags
    assert "ACME Receipt" in words.searchable_text
    assert words.description.endswith("text: ACME Receipt Total 42.50 EUR Harbour Street 7")
    assert words.model.startswith("ocr:rapidocr-")


@pytest.mark.parametrize("name", ["camera/DSCN0010.jpg", "camera/Canon_40D.jpg", "formats/flower2.jpg"])
def test_a_photo_without_text_gives_none(corpus, name):
    requires("rapidocr", "onnxruntime")
    words = describe(corpus / name, "ocr")
    assert words.ocr_text == ""
    assert "text" not in words.tags


def test_the_stars_of_a_uniform_are_not_text(corpus):
    """hopper.jpg: RapidOCR reads her uniform's stars as "***"; a line with no letter is dropped."""
    requires("rapidocr", "onnxruntime")
    assert describe(corpus / "formats/hopper.jpg", "ocr").ocr_text == ""


def test_grace_hopper_has_one_face(corpus):
    requires("cv2")
    words = describe(corpus / "formats/hopper.jpg", "faces")
    assert len(words.faces) == 1
    x, y, width, height = words.faces[0]
    assert 40 <= width <= 80 and 40 <= height <= 80  # her face in a 128x128 portrait
    assert 20 <= x <= 50 and 5 <= y <= 40
    assert {"face", "people"} <= set(words.tags)
    assert "1 face" in words.description


@pytest.mark.parametrize("name", FACE_FREE)
def test_photos_without_a_face_give_zero(corpus, name):
    requires("cv2")
    words = describe(corpus / name, "faces")
    assert words.faces == []
    assert "face" not in words.tags


def test_face_boxes_are_in_pixels_of_the_upright_original(corpus, tmp_path):
    """Three real faces pasted into a 2400 px photo, found on a 1024 px copy, boxed in 2400 px."""
    requires("cv2")
    hopper = load_upright(corpus / "formats/hopper.jpg", **LIMITS).convert("RGB")
    picture = load_upright(corpus / "camera/DSCN0010.jpg", **LIMITS).convert("RGB").resize((2400, 1800))
    pasted = [(100, 700, 300), (1000, 600, 400), (1800, 800, 350)]
    for x, y, side in pasted:
        picture.paste(hopper.resize((side, side)), (x, y))
    path = tmp_path / "group.jpg"
    save_jpeg(picture, path)
    faces = describe(path, "faces").faces
    assert len(faces) == 3
    for (x, y, side), (fx, fy, fw, fh) in zip(pasted, sorted(faces), strict=True):
        # the face sits inside its pasted portrait, about half its width (as in hopper.jpg)
        assert x <= fx and fx + fw <= x + side and y <= fy and fy + fh <= y + side
        assert 0.3 * side <= fw <= 0.7 * side


def test_the_gps_photo_gets_its_real_place(corpus):
    """DSCN0010.jpg was taken at 43.4674 N 11.8851 E: the edge of Arezzo, Tuscany."""
    requires("reverse_geocode")
    words = describe(corpus / "camera/DSCN0010.jpg", "places")
    assert words.place == {"city": "Arezzo", "region": "Tuscany", "country": "Italy", "country_code": "IT"}
    assert distance_km(43.467448, 11.885127, 43.46276, 11.88068) < 1  # GeoNames' Arezzo
    assert {"arezzo", "tuscany", "italy"} <= set(words.tags)
    assert "in Arezzo, Tuscany, Italy" in words.description
    assert words.model.startswith("places:reverse_geocode-")


def test_no_place_without_gps_or_far_from_any_town(corpus):
    requires("reverse_geocode")
    assert describe(corpus / "camera/Canon_40D.jpg", "places").place == {}
    assert place_of(None, None) == {}
    assert place_of(30.0, -40.0) == {}  # mid-Atlantic: the nearest town is ~900 km away, in the Azores


def test_facts_of_a_drawn_screenshot(screenshot):
    """Flat colours and no camera: "graphic" from facts alone, "screenshot" once text is read."""
    requires("rapidocr", "onnxruntime")
    alone = describe(screenshot, "facts")
    assert alone.kind == "graphic"
    words = describe(screenshot, "facts", "ocr")
    assert words.kind == "screenshot"
    assert {"screenshot", "landscape", "text"} <= set(words.tags)
    assert "panorama" not in words.tags and "photo" not in words.tags
    assert "Invoice 20931 from ACME" in words.ocr_text
    assert words.colors[0] == "white"  # the page
    assert words.description.startswith("A landscape screenshot; mostly white")


def test_facts_of_camera_photos(corpus):
    words = describe(corpus / "camera/Canon_40D.jpg", "facts")
    assert words.kind == "photo"
    assert words.description.startswith("A landscape photo taken with a Canon EOS 40D")
    assert {"photo", "landscape", "flash", "canon"} <= set(words.tags)  # its EXIF Flash is 9: fired
    assert "f/7.1 1/160 s ISO 100" in words.detailed_description
    nikon = describe(corpus / "camera/DSCN0010.jpg", "facts")
    assert nikon.kind == "photo" and "flash" not in nikon.tags  # Flash 16: did not fire
    assert "nikon" in nikon.tags and nikon.colors
    assert describe(corpus / "orientation/Portrait_6.jpg", "facts").tags[:2] == ["photo", "portrait"]
    assert "square" in describe(corpus / "formats/hopper.jpg", "facts").tags
    assert words.faces == [] and words.ocr_text == "" and words.place == {}  # parts not asked for
    assert words.categories == [] and words.objects == [] and words.mood == "" and words.style == ""


def test_a_wide_photo_is_a_panorama(tmp_path):
    path = tmp_path / "wide.jpg"
    save_jpeg(make_photo(3000, 1000, seed=5), path)
    words = describe(path, "facts")
    assert {"photo", "landscape", "panorama"} <= set(words.tags)
    assert words.description.startswith("A panoramic photo")


def test_all_parts_together(corpus):
    requires("rapidocr", "onnxruntime", "cv2", "reverse_geocode")
    words = describe(corpus / "camera/DSCN0010.jpg", *local.PARTS)
    assert words.provider == "local"
    assert words.model.startswith("facts+places:reverse_geocode-") and "+faces:opencv-" in words.model
    assert "+ocr:rapidocr-" in words.model
    assert words.description.startswith("A landscape photo taken with a NIKON COOLPIX P6000 in Arezzo")
    for fact in ("Arezzo", "NIKON", "photo"):
        assert fact in words.searchable_text
    assert words.faces == [] and "face" not in words.searchable_text  # none found: nothing to search by


def test_parts_are_checked():
    with pytest.raises(ConfigurationError, match="unknown describe parts"):
        local.check_parts(("facts", "objects"))
    local.check_parts(local.available_parts())
    assert local.available_parts()[0] == "facts"


def test_an_undecodable_file_fails_the_call(corpus):
    with pytest.raises(ImagePipeError):
        describe(corpus / "bad/broken.png", *local.available_parts())


def test_importing_the_describer_loads_no_model_library():
    code = (
        "import sys, imagepipe.description.local; print(sorted({'cv2', 'onnxruntime', 'rapidocr'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
