"""Planning widths and rendering variants: no upscaling, a cascade of sizes, no metadata."""

import pytest
from PIL import Image

from imagepipe.imaging import EncoderOptions, load_upright, plan_widths, render_variants, unencodable
from imagepipe.settings import Settings
from tests.imaging.helpers import LIMITS, SRGB_COLORANTS, assert_no_metadata, decode, make_photo, make_rgb_profile


@pytest.mark.parametrize(
    ("display_width", "widths", "planned"),
    [
        (3000, (640, 1024, 1920), (1920, 1024, 640)),
        (1024, (1920, 640, 1024), (1024, 640)),
        (600, (640, 1024, 1920), (600,)),
        (800, (), (800,)),
        (800, (640, 640), (640,)),
    ],
)
def test_plan_widths_never_upscales(display_width, widths, planned):
    assert plan_widths(display_width, widths) == planned


def test_small_image_gets_one_variant_set_at_its_own_width():
    image = make_photo(600, 400)

    variants = render_variants(image, (640, 1024, 1920), ("webp", "avif"), EncoderOptions())

    assert [(v.width, v.height, v.format) for v in variants] == [(600, 400, "webp"), (600, 400, "avif")]
    assert [decode(v.data).size for v in variants] == [(600, 400), (600, 400)]


def test_sizes_cascade_from_the_previous_output(monkeypatch):
    """Each smaller size is resized from the one before, not from the (large) original."""
    image = make_photo(300, 200).resize((3000, 2000))
    resized_from = []
    original_resize = Image.Image.resize

    def recording_resize(self, size, *args, **kwargs):
        resized_from.append((self.size, size))
        return original_resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording_resize)

    render_variants(image, (640, 1024, 1920), ("webp",), EncoderOptions())

    assert resized_from == [((3000, 2000), (1920, 1280)), ((1920, 1280), (1024, 683)), ((1024, 683), (640, 427))]


def test_gps_and_camera_metadata_never_reach_outputs(tmp_path):
    """A JPEG with EXIF (GPS, camera), XMP and an ICC profile gives variants with none of them."""
    path = tmp_path / "gps.jpg"
    exif = Image.Exif()
    exif[0x010F] = "ImagepipeTestCam"
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (43.0, 28.0, 2.81), 3: "E", 4: (11.0, 53.0, 6.46)})
    profile = make_rgb_profile("ImagepipeTestProfile", *SRGB_COLORANTS.values())
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">ImagepipeTestXmp</x:xmpmeta>'
    make_photo(800, 600).save(path, exif=exif, icc_profile=profile, xmp=xmp)
    assert decode(path.read_bytes()).getexif().get_ifd(0x8825)  # the source really has GPS

    image = load_upright(path, **LIMITS)
    variants = render_variants(image, (640, 320), ("webp", "avif"), EncoderOptions())

    assert len(variants) == 4
    for variant in variants:
        assert_no_metadata(variant.data)
        assert b"ImagepipeTest" not in variant.data


def test_alpha_is_kept_in_both_formats():
    image = make_photo(200, 100).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((200, 100)))

    variants = render_variants(image, (100,), ("webp", "avif"), EncoderOptions())

    for variant in variants:
        output = decode(variant.data)
        assert output.mode == "RGBA"
        assert output.getpixel((50, 1))[3] < 30 and output.getpixel((50, 48))[3] > 225


def test_grey_images_encode_as_grey():
    variants = render_variants(Image.new("L", (64, 64), 90), (64,), ("webp", "avif"), EncoderOptions())

    for variant in variants:
        assert decode(variant.data).convert("RGB").getpixel((5, 5)) == pytest.approx((90, 90, 90), abs=3)


def test_unknown_output_format_is_refused():
    with pytest.raises(ValueError, match="jpeg"):
        render_variants(make_photo(64, 64), (64,), ("jpeg",), EncoderOptions())


def test_encoder_options_follow_settings():
    settings = Settings(webp_quality=70, webp_method=6, avif_quality=50, avif_speed=6, avif_threads=2)

    assert EncoderOptions.from_settings(settings) == EncoderOptions(70, 6, 50, 6, 2)
    assert EncoderOptions.from_settings(Settings()) == EncoderOptions()


def test_quality_option_changes_the_output():
    image = make_photo(320, 240)

    low = render_variants(image, (320,), ("webp", "avif"), EncoderOptions(webp_quality=20, avif_quality=20))
    high = render_variants(image, (320,), ("webp", "avif"), EncoderOptions(webp_quality=95, avif_quality=90))

    assert all(len(a.data) < len(b.data) for a, b in zip(low, high, strict=True))


def test_a_strip_too_tall_for_webp_at_a_variant_width_is_named():
    """Found by bench/fuzz.py: a damaged header gave a picture so narrow that its 640 px variant
    was taller than libwebp allows, a ValueError from the encoder that was retried as transient."""
    assert unencodable(1000, 30000, (640,), ("webp", "avif")) == (
        "its 640 px wide variant would be 19200 px tall, over WEBP's 16383 px limit"
    )


def test_each_format_has_its_own_limit_and_ordinary_shapes_pass():
    assert unencodable(1000, 30000, (640,), ("avif",)) is None  # AV1 frames go to 65536
    assert unencodable(100, 3000, (640, 1024), ("webp",)) is None  # never upscaled: 100 px wide
    assert unencodable(6000, 4000, (640, 1024, 1920), ("webp", "avif")) is None
