"""describe(): camera facts, tolerant EXIF, colours, blurhash and perceptual hash."""

import datetime
import io
import math

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from imagepipe.imaging import describe
from imagepipe.imaging.colors import average_color, color_name, dominant_colors
from imagepipe.imaging.exif import camera_fields
from imagepipe.imaging.fingerprints import blurhash, phash
from tests.imaging.helpers import LIMITS, make_photo

KEYS = {
    "width", "height", "format", "mode", "has_alpha", "frames", "camera_make", "camera_model", "lens",
    "taken_at", "exposure_time", "f_number", "iso", "focal_length_mm", "gps_latitude", "gps_longitude",
    "icc_description", "dominant_colors", "average_color", "blurhash", "phash", "summary",
}  # fmt: skip
CAMERA_FIELDS = (
    "camera_make", "camera_model", "lens", "taken_at", "exposure_time", "f_number", "iso", "focal_length_mm",
    "gps_latitude", "gps_longitude",
)  # fmt: skip
BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


@pytest.mark.parametrize(
    "path",
    ["camera/Canon_40D.jpg", "camera/DSCN0010.jpg", "camera/Nikon_D70.jpg", "camera/Reconyx_HC500_Hyperfire.jpg",
     "camera/fujifilm-dx10.jpg", "camera/jolla.jpg", "camera/samplefilehub.heif", "bad/hopper_bad_exif.jpg",
     "bad/exif-dpi-zerodivision.jpg", "bad/invalid_image00971.jpg", "formats/avif_transparency.avif",
     "formats/dispose_bgnd_transparency.gif", "formats/12in16bit.tif"],
)  # fmt: skip
def test_describe_returns_every_key_for_real_files(corpus, path):
    facts = describe(corpus / path, **LIMITS)

    assert set(facts) == KEYS
    assert len(facts["phash"]) == 16 and len(facts["blurhash"]) == 28
    assert 1 <= len(facts["dominant_colors"]) <= 5
    assert sum(color["share"] for color in facts["dominant_colors"]) == pytest.approx(1, abs=0.01)
    assert facts["summary"].startswith(f"{facts['format']} {facts['width']}x{facts['height']}")


def test_canon_facts(corpus):
    facts = describe(corpus / "camera" / "Canon_40D.jpg", **LIMITS)

    assert {key: facts[key] for key in CAMERA_FIELDS} == {
        "camera_make": "Canon",
        "camera_model": "Canon EOS 40D",
        "lens": None,
        "taken_at": datetime.datetime(2008, 5, 30, 15, 56, 1),
        "exposure_time": "1/160",
        "f_number": 7.1,
        "iso": 100,
        "focal_length_mm": 135.0,
        "gps_latitude": None,  # its GPS directory holds only a version number
        "gps_longitude": None,
    }
    assert facts["icc_description"] == "sRGB IEC61966-2.1"
    assert facts["summary"].startswith("JPEG 100x68 Canon EOS 40D, 2008-05-30, f/7.1 1/160s ISO 100 135mm, mostly ")


def test_nikon_facts(corpus):
    facts = describe(corpus / "camera" / "Nikon_D70.jpg", **LIMITS)

    assert (facts["camera_make"], facts["camera_model"]) == ("NIKON CORPORATION", "NIKON D70")
    assert facts["taken_at"] == datetime.datetime(2008, 3, 15, 9, 52, 1)
    assert facts["summary"].startswith("JPEG 100x66 NIKON D70, 2008-03-15, f/9 1/200s ISO 200 100mm")


def test_gps_in_decimal_degrees(corpus):
    facts = describe(corpus / "camera" / "DSCN0010.jpg", **LIMITS)

    assert facts["gps_latitude"] == pytest.approx(43 + 28 / 60 + 2.814 / 3600, abs=1e-5)
    assert facts["gps_longitude"] == pytest.approx(11 + 53 / 60 + 6.456 / 3600, abs=1e-5)
    assert "GPS 43.47,11.89" in facts["summary"]


@pytest.mark.parametrize("path", ["bad/hopper_bad_exif.jpg", "bad/exif-dpi-zerodivision.jpg"])
def test_broken_exif_gives_none_fields(corpus, path):
    facts = describe(corpus / path, **LIMITS)

    assert all(facts[key] is None for key in CAMERA_FIELDS)


def test_malformed_exif_values_become_none_and_refs_set_signs():
    rational = TiffImagePlugin.IFDRational
    exif = Image.Exif()
    exif[0x010F] = "Make\x00\x00 "
    shot = exif.get_ifd(0x8769)
    shot.update({0x9003: "0000:00:00 00:00:00", 0x829A: rational(1, 0), 0x829D: rational(0, 0)})
    gps = exif.get_ifd(0x8825)
    gps.update({1: "S", 2: (rational(33), rational(52), rational(0)), 3: "W", 4: (rational(151), rational(12, 0), 0)})
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", exif=exif)

    fields = camera_fields(Image.open(buffer))

    assert fields["camera_make"] == "Make"
    assert fields["taken_at"] is fields["exposure_time"] is fields["f_number"] is fields["gps_longitude"] is None
    assert fields["gps_latitude"] == pytest.approx(-(33 + 52 / 60))


def _reference_blurhash(image, x_components, y_components):
    """A literal, loop-by-loop port of the reference TypeScript encoder (woltapp/blurhash)."""
    width, height = image.size
    pixels = image.load()

    def to_linear(value):
        v = value / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    def to_srgb(value):
        v = max(0.0, min(1.0, value))
        return (
            math.trunc(v * 12.92 * 255 + 0.5)
            if v <= 0.0031308
            else math.trunc((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)
        )

    def encode83(value, length):
        return "".join(BASE83[value // 83 ** (length - i) % 83] for i in range(1, length + 1))

    factors = []
    for j in range(y_components):
        for i in range(x_components):
            normalisation = 1 if i == 0 and j == 0 else 2
            total = [0.0, 0.0, 0.0]
            for y in range(height):
                for x in range(width):
                    basis = normalisation * math.cos(math.pi * i * x / width) * math.cos(math.pi * j * y / height)
                    for c in range(3):
                        total[c] += basis * to_linear(pixels[x, y][c])
            factors.append([t / (width * height) for t in total])
    dc, ac = factors[0], factors[1:]
    result = encode83((x_components - 1) + (y_components - 1) * 9, 1)
    actual_max = max(abs(v) for factor in ac for v in factor)
    quantised_max = math.floor(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
    maximum = (quantised_max + 1) / 166
    result += encode83(quantised_max, 1)
    result += encode83((to_srgb(dc[0]) << 16) + (to_srgb(dc[1]) << 8) + to_srgb(dc[2]), 4)
    for factor in ac:
        q = [
            math.floor(max(0, min(18, math.floor(math.copysign(abs(v / maximum) ** 0.5, v) * 9 + 9.5)))) for v in factor
        ]
        result += encode83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return result


def test_blurhash_of_black_is_the_well_known_constant():
    assert blurhash(Image.new("RGB", (32, 32))) == "L00000fQfQfQfQfQfQfQfQfQfQfQ"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blurhash_matches_the_reference_encoder(seed):
    image = make_photo(24, 16, seed=seed)

    assert blurhash(image) == _reference_blurhash(image, 4, 3)


def test_blurhash_dc_decodes_to_the_average_color(corpus):
    facts = describe(corpus / "camera" / "DSCN0010.jpg", **LIMITS)

    value = 0
    for char in facts["blurhash"][2:6]:
        value = value * 83 + BASE83.index(char)

    assert f"#{value:06x}" == facts["average_color"]


def test_phash_of_a_flat_image_has_only_the_dc_bit():
    assert phash(Image.new("RGB", (50, 40), (120, 130, 140))) == "8000000000000000"


def test_phash_is_stable_under_resizing_and_differs_for_other_pictures():
    image = make_photo(640, 480, seed=3)

    def distance(a, b):
        return bin(int(a, 16) ^ int(b, 16)).count("1")

    assert distance(phash(image), phash(image.resize((200, 150)))) <= 4
    assert distance(phash(image), phash(make_photo(640, 480, seed=4).transpose(Image.Transpose.ROTATE_180))) >= 16


def test_dominant_colors_count_only_visible_pixels():
    image = Image.new("RGBA", (40, 10), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 30, 10))
    image.paste((0, 0, 255, 255), (30, 0, 40, 5))

    assert dominant_colors(image) == [{"hex": "#ff0000", "share": 0.8571}, {"hex": "#0000ff", "share": 0.1429}]


def test_average_color_is_taken_in_linear_light():
    stripes = Image.fromarray(np.tile(np.array([0, 255], dtype=np.uint8), (8, 4)), "L")

    assert average_color(stripes) == "#bcbcbc"


@pytest.mark.parametrize(
    ("hex_color", "name"),
    [("#000000", "black"), ("#ffffff", "white"), ("#808080", "grey"), ("#d01010", "red"), ("#20a040", "green"),
     ("#2040c0", "blue"), ("#7a8a9c", "grey-blue"), ("#6b4a2a", "brown"), ("#f0d020", "yellow")],
)  # fmt: skip
def test_color_names(hex_color, name):
    assert color_name(hex_color) == name


def test_transparency_is_reported(corpus):
    assert describe(corpus / "formats" / "avif_transparency.avif", **LIMITS)["has_alpha"] is True
    assert describe(corpus / "formats" / "hopper.png", **LIMITS)["has_alpha"] is False
