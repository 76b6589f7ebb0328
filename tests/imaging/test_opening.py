"""Opening sources: orientation, every corpus format, every bad file, limits and sniffing."""

import io
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from imagepipe.errors import (
    CorruptImage,
    EmptyFile,
    FileTooLarge,
    PermanentError,
    PixelLimitExceeded,
    SourceRejected,
    TruncatedImage,
    UnsupportedFormat,
)
from imagepipe.imaging import EncoderOptions, inspect_file, load_upright, opening, render_variants
from tests.imaging.helpers import (
    LIMITS,
    SRGB_COLORANTS,
    assert_no_metadata,
    decode,
    make_photo,
    make_rgb_profile,
    png_header_only,
)

# formats/: every file must be accepted. file -> (format, displayed size, frames, mode after load_upright)
FORMATS = {
    "12in16bit.tif": ("TIFF", (100, 100), 1, "L"),
    "16bit.deflate.tif": ("TIFF", (64, 64), 1, "L"),
    "1_trns.png": ("PNG", (64, 64), 1, "RGBA"),
    "apng_mode_palette_alpha.png": ("PNG", (128, 64), 3, "RGBA"),
    "avif_hopper.avif": ("AVIF", (128, 128), 1, "RGB"),
    "avif_rot1mir1.avif": ("AVIF", (640, 427), 1, "RGB"),  # stored 427x640, irot+imir
    "avif_transparency.avif": ("AVIF", (64, 64), 1, "RGBA"),
    "dispose_bgnd_transparency.gif": ("GIF", (38, 32), 10, "RGBA"),
    "exif_imagemagick_orientation.png": ("PNG", (512, 512), 1, "RGB"),
    "flower.webp": ("WEBP", (480, 360), 1, "RGB"),
    "flower2.jpg": ("JPEG", (300, 225), 1, "RGB"),
    "hopper-XYZ.png": ("PNG", (128, 128), 1, "RGB"),
    "hopper.gif": ("GIF", (128, 128), 1, "RGB"),
    "hopper.iccprofile.tif": ("TIFF", (128, 128), 1, "RGB"),
    "hopper.jpg": ("JPEG", (128, 128), 1, "RGB"),
    "hopper.png": ("PNG", (128, 128), 1, "RGB"),
    "hopper.tif": ("TIFF", (128, 128), 1, "RGB"),
    "hopper.webp": ("WEBP", (128, 128), 1, "RGB"),
    "hopper_16bit_qtables.jpg": ("JPEG", (128, 128), 1, "RGB"),
    "hopper_bigtiff.tif": ("TIFF", (128, 128), 1, "RGB"),
    "hopper_gray.jpg": ("JPEG", (128, 128), 1, "L"),
    "i_trns.png": ("PNG", (64, 64), 1, "RGBA"),
}

# bad/: file -> (error class, start of the message). exif-dpi-zerodivision, hopper_bad_exif,
# hopper_idat_after_image_end and invalid_image00971 decode "completely": imaging/consistency.py,
# libjpeg-turbo's warnings and imaging/png.py find what is wrong with them.
BAD = {
    "broken.png": (CorruptImage, "corrupt PNG file: its header cannot be read"),
    "broken_data_stream.png": (CorruptImage, "corrupt PNG data: IDAT chunk at byte 33 fails its CRC"),
    "corrupted.jpg": (CorruptImage, "corrupt JPEG data: invalid marker 0xFF9F at byte 229375"),
    "crash-0c7e0e8e11ce787078f00b5b0ca409a167f070e0.tif": (CorruptImage, "corrupt TIFF file:"),
    "decompression_bomb.gif": (PixelLimitExceeded, "image (GIF canvas grown by its frames) is 65535x66601 = 4364.7 MP"),
    "decompression_bomb_extents.gif": (PixelLimitExceeded, "image (GIF canvas grown by its frames) is 65635x65635"),
    "empty.png": (EmptyFile, "empty file (0 bytes)"),
    "exif-dpi-zerodivision.jpg": (CorruptImage, "corrupt JPEG metadata: EXIF XResolution is 0/0, not a number"),
    "hopper_bad_exif.jpg": (
        CorruptImage,
        "corrupt JPEG data: 1214 extraneous bytes before marker 0xd0 (libjpeg-turbo)",
    ),
    "hopper_idat_after_image_end.png": (
        CorruptImage,
        "corrupt PNG data: image data continues after its compressed stream ended (IDAT chunk at byte 30331)",
    ),
    "invalid_image00971.jpg": (
        CorruptImage,
        "corrupt JPEG metadata: its XMP declares a 636x1020 picture, the image is 636x227",
    ),
    "text_named.jpg": (UnsupportedFormat, "not a recognised image format"),
    "truncated_Canon_40D.jpg": (TruncatedImage, "truncated JPEG file"),
}

ORIENTATION_SIZES = {"Landscape": (1800, 1200), "Portrait": (1200, 1800)}
# Mean absolute difference (levels) allowed between an oriented file's variant and the
# Orientation=1 file's: JPEG noise measures 1.4-3.3; a mirrored result measures 40-75.
MAX_ORIENTATION_DIFF = 8


def _render_640(path):
    image = load_upright(path, **LIMITS, max_width=640)
    (variant,) = render_variants(image, (640,), ("webp",), EncoderOptions())
    return np.asarray(decode(variant.data).convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def upright_reference(corpus):
    return {kind: _render_640(corpus / "orientation" / f"{kind}_1.jpg") for kind in ORIENTATION_SIZES}


@pytest.mark.parametrize("kind", ORIENTATION_SIZES)
@pytest.mark.parametrize("orientation", range(9))
def test_every_exif_orientation_renders_upright(corpus, upright_reference, kind, orientation):
    """Each Orientation 0-8 file displays the same picture, so its variant matches _1's."""
    path = corpus / "orientation" / f"{kind}_{orientation}.jpg"

    info = inspect_file(path, **LIMITS)
    pixels = _render_640(path)

    assert (info.width, info.height) == ORIENTATION_SIZES[kind]
    assert pixels.shape == upright_reference[kind].shape
    assert np.abs(pixels - upright_reference[kind]).mean() < MAX_ORIENTATION_DIFF


def test_formats_table_covers_the_corpus(corpus):
    assert sorted(path.name for path in (corpus / "formats").iterdir()) == sorted(FORMATS)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_is_inspected_loaded_and_rendered(corpus, name):
    """Each corpus format opens, decodes upright, and renders clean variants of the right size."""
    fmt, size, frames, mode = FORMATS[name]
    path = corpus / "formats" / name

    info = inspect_file(path, **LIMITS)
    image = load_upright(path, **LIMITS)
    variants = render_variants(image, (1024, 320, 64), ("webp", "avif"), EncoderOptions())

    assert (info.format, (info.width, info.height), info.frames) == (fmt, size, frames)
    assert (image.mode, image.size, image.info) == (mode, size, {})
    expected_widths = [width for width in (320, 64) if width <= size[0]] or [size[0]]
    assert [(v.width, v.format) for v in variants] == [(w, f) for w in expected_widths for f in ("webp", "avif")]
    has_transparency = mode == "RGBA" and np.asarray(image)[..., 3].min() < 255
    for variant in variants:
        assert_no_metadata(variant.data)
        output = decode(variant.data)
        assert output.size == (variant.width, variant.height)
        assert variant.height == max(1, round(size[1] * variant.width / size[0]))
        if has_transparency:
            assert output.mode == "RGBA" and np.asarray(output)[..., 3].min() < 255


def test_bad_table_covers_the_corpus(corpus):
    assert sorted(path.name for path in (corpus / "bad").iterdir()) == sorted(BAD)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(BAD))
def test_every_bad_file_fails_cleanly(corpus, name):
    path = corpus / "bad" / name
    error, message = BAD[name]

    with pytest.raises(error) as raised:
        inspect_file(path, **LIMITS)

    assert isinstance(raised.value, PermanentError)
    assert str(raised.value).startswith(message)
    assert str(path.parent) not in str(raised.value)


def test_pillow_bomb_guard_applies_when_the_configured_limit_is_higher(corpus):
    """Above Pillow's own limit its DecompressionBombError is reported as PixelLimitExceeded."""
    with pytest.raises(PixelLimitExceeded, match=r"image is 4364\.7 MP, over the 89\.5 MP limit"):
        inspect_file(corpus / "bad" / "decompression_bomb.gif", max_pixels=10**10, max_file_bytes=10**6)


def test_heif_opens_with_pillow_heif(corpus):
    info = inspect_file(corpus / "camera" / "samplefilehub.heif", **LIMITS)

    assert (info.format, info.width, info.height) == ("HEIF", 640, 426)
    assert load_upright(corpus / "camera" / "samplefilehub.heif", **LIMITS).mode == "RGB"


def test_heif_without_its_decoder_names_the_missing_extra(corpus, monkeypatch):
    monkeypatch.setattr(opening, "ALLOWED_FORMATS", tuple(f for f in opening.ALLOWED_FORMATS if f != "HEIF"))

    with pytest.raises(UnsupportedFormat, match=r"^unsupported format HEIF \(install imagepipe\[heif\]\)$"):
        inspect_file(corpus / "camera" / "samplefilehub.heif", **LIMITS)


def test_missing_file_is_rejected_without_its_directory(tmp_path):
    with pytest.raises(SourceRejected, match="^source file not found: nope.jpg$") as raised:
        inspect_file(tmp_path / "nope.jpg", **LIMITS)
    assert str(tmp_path) not in str(raised.value)


def test_file_over_the_byte_limit_names_both_sizes(tmp_path):
    path = tmp_path / "big.png"
    make_photo(64, 64).save(path)
    size = path.stat().st_size

    with pytest.raises(FileTooLarge, match=f"^file is {size:,} bytes, over the 1,000 byte limit$"):
        inspect_file(path, max_pixels=10**6, max_file_bytes=1000)


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(10_000, 6_000))

    with pytest.raises(
        PixelLimitExceeded, match=r"^image is 10000x6000 = 60\.0 MP, over the 50\.0 MP limit$"
    ) as raised:
        inspect_file(path, **LIMITS)
    assert (raised.value.pixels, raised.value.limit) == (60_000_000, 50_000_000)


def test_decompression_bomb_warning_is_an_error_without_changing_global_filters(tmp_path):
    """120 MP is under the configured 200 MP but over Pillow's 89.5 MP warning threshold."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(12_000, 10_000))
    filters_before = list(warnings.filters)

    with pytest.raises(PixelLimitExceeded, match=r"^image is 120\.0 MP, over the 89\.5 MP limit"):
        inspect_file(path, max_pixels=200_000_000, max_file_bytes=10**6)
    assert warnings.filters == filters_before


def test_format_outside_the_allowlist_is_named(tmp_path):
    path = tmp_path / "picture.jpg"
    make_photo(32, 32).save(path, "PCX")

    with pytest.raises(UnsupportedFormat, match="^unsupported format PCX$"):
        inspect_file(path, **LIMITS)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "BMP"])
def test_truncated_files_fail_as_truncated(tmp_path, fmt):
    buffer = io.BytesIO()
    make_photo(200, 150).save(buffer, fmt)
    path = tmp_path / "cut"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])

    with pytest.raises(TruncatedImage, match=f"^truncated {fmt} file"):
        inspect_file(path, **LIMITS)


def test_valid_progressive_and_restart_jpegs_pass_the_scan_check(tmp_path):
    for name, options in {"progressive": {"progressive": True}, "restart": {"restart_marker_blocks": 2}}.items():
        path = tmp_path / f"{name}.jpg"
        make_photo(300, 200).save(path, **options)
        assert inspect_file(path, **LIMITS).width == 300


def test_damaged_restart_sequence_is_corrupt(tmp_path):
    """Concealed damage: libjpeg would resync and Pillow would return a smeared picture."""
    buffer = io.BytesIO()
    make_photo(300, 200).save(buffer, "JPEG", restart_marker_blocks=2)
    data = bytearray(buffer.getvalue())
    second_restart = data.index(b"\xff\xd1")
    data[second_restart + 1] = 0xD3
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bytes(data))

    with pytest.raises(
        CorruptImage, match=f"^corrupt JPEG data: restart marker out of sequence at byte {second_restart}$"
    ):
        inspect_file(path, **LIMITS)


@pytest.fixture(scope="module")
def big_photo():
    """A 6000x4000 (24 MP) picture, made small and enlarged because drawing 24 MP is slow."""
    return make_photo(600, 400).resize((6000, 4000), Image.Resampling.BILINEAR)


def test_jpeg_is_decoded_at_reduced_scale(tmp_path, big_photo):
    """Draft mode: a 6000x4000 JPEG wanted at 640 wide decodes at 1/8 scale, not 24 MP."""
    path = tmp_path / "big.jpg"
    big_photo.save(path, quality=70)

    image = load_upright(path, **LIMITS, max_width=640)

    assert image.size == (750, 500)


def test_draft_scale_respects_rotated_display_width(tmp_path, big_photo):
    """Orientation 6 shows the stored height as width: 4000 stored rows -> 1/4 scale for 1000 px."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    big_photo.save(path, quality=70, exif=exif)

    image = load_upright(path, **LIMITS, max_width=1000)

    assert image.size == (1000, 1500)


def test_orientation_6_gives_upright_variants(tmp_path):
    """A 3000x2000 sensor image tagged Orientation 6 yields 2000x3000-shaped outputs, upright."""
    shown = Image.new("RGB", (2000, 3000), "blue")
    shown.paste((255, 0, 0), (0, 0, 1000, 1500))  # red top-left quarter as displayed
    path = tmp_path / "rot6.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    shown.transpose(Image.Transpose.ROTATE_90).save(path, quality=90, exif=exif)

    info = inspect_file(path, **LIMITS)
    image = load_upright(path, **LIMITS, max_width=1920)
    variants = render_variants(image, (640, 1024, 1920), ("webp",), EncoderOptions())

    assert (info.width, info.height) == (2000, 3000)
    assert [(v.width, v.height) for v in variants] == [(1920, 2880), (1024, 1536), (640, 960)]
    small = decode(variants[-1].data).convert("RGB")
    assert small.getpixel((100, 100))[0] > 200 and small.getpixel((540, 860))[2] > 200


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(path, quality=95)

    image = load_upright(path, **LIMITS)

    assert image.mode == "RGB"
    red, green, blue = image.getpixel((32, 32))
    assert red > 200 and green < 60 and blue < 60


def test_sixteen_bit_grey_is_scaled_not_clipped(corpus):
    """16bit.deflate.tif holds values 291..694: clipping to 8 bits would make it all white."""
    pixels = np.asarray(load_upright(corpus / "formats" / "16bit.deflate.tif", **LIMITS))

    assert pixels.min() < 30 and pixels.max() > 225 and 40 < pixels.mean() < 200


def test_icc_tagged_source_is_converted_to_srgb_and_the_profile_dropped(tmp_path):
    """Pixels tagged with a profile whose red and green primaries are swapped come out green."""
    path = tmp_path / "tagged.png"
    swapped = make_rgb_profile("swapped", SRGB_COLORANTS["green"], SRGB_COLORANTS["red"], SRGB_COLORANTS["blue"])
    Image.new("RGB", (32, 32), (200, 40, 40)).save(path, icc_profile=swapped)

    image = load_upright(path, **LIMITS)

    assert image.info == {}
    assert image.getpixel((0, 0)) == pytest.approx((35, 201, 35), abs=3)


def test_unusable_icc_profile_is_ignored(tmp_path):
    path = tmp_path / "bad-profile.png"
    Image.new("RGB", (8, 8), (200, 40, 40)).save(path, icc_profile=b"not a profile at all")

    assert load_upright(path, **LIMITS).getpixel((0, 0)) == (200, 40, 40)


def test_concurrent_opening_leaves_the_warning_machinery_alone(corpus):
    """The bomb-warning filter is swapped in under a lock, so worker threads cannot leak it."""
    filters, showwarning = list(warnings.filters), warnings.showwarning
    paths = [corpus / "formats" / name for name in sorted(FORMATS)] * 3

    with ThreadPoolExecutor(max_workers=8) as pool:
        infos = list(pool.map(lambda path: inspect_file(path, **LIMITS), paths))

    assert len(infos) == len(paths)
    assert warnings.filters == filters and warnings.showwarning is showwarning


@pytest.mark.parametrize(
    ("mode", "value", "suffix", "expected_mode", "expected"),
    [
        ("LAB", (128, 128, 128), "tif", "RGB", (119, 119, 119)),  # L* 50 is sRGB 119 grey
        ("LAB", (140, 200, 180), "tif", "RGB", (245, 50, 46)),
        ("YCbCr", (128, 128, 200), "tif", "RGB", (228, 76, 128)),
        ("F", 0.25, "tif", "L", 64),  # floats in 0..1 scale by 255
        ("I;16", 1000, "png", "L", 4),  # full-range 16-bit data (one pixel is 60000) scales by 65535
        ("P", 1, "gif", "RGB", (200, 30, 40)),  # palette entry 1
    ],
)
def test_unusual_modes_become_8bit_srgb(tmp_path, mode, value, suffix, expected_mode, expected):
    source = Image.new(mode, (16, 16), value)
    if mode == "I;16":
        source.putpixel((0, 0), 60000)
    if mode == "P":
        source.putpalette([0, 0, 0, 200, 30, 40])
    path = tmp_path / f"odd.{suffix}"
    source.save(path)

    image = load_upright(path, **LIMITS)

    assert image.mode == expected_mode
    assert image.getpixel((5, 5)) == pytest.approx(expected, abs=2)


def test_an_io_error_of_the_disk_is_transient_not_a_corrupt_image():
    """EIO or ESTALE on a network MEDIA_ROOT is worth a retry; Pillow's errno-less OSError is not."""
    import errno

    from imagepipe.errors import TransientError
    from imagepipe.imaging import failures

    disk = failures.decode_failure(OSError(errno.EIO, "Input/output error"), "JPEG", "a.jpg")
    data = failures.decode_failure(OSError("broken data stream when reading image file"), "JPEG", "a.jpg")

    assert isinstance(disk, TransientError) and str(disk) == "cannot read JPEG file: Input/output error"
    assert isinstance(data, CorruptImage)


def scan_cut_short(tmp_path):
    """A baseline JPEG whose entropy data loses 2 KB in the middle: libjpeg warns and fills the
    rest with grey, Pillow returns the picture as if nothing happened."""
    buffer = io.BytesIO()
    make_photo(600, 400).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    path = tmp_path / "cut.jpg"
    middle = len(data) // 2
    path.write_bytes(data[:middle] + data[middle + 2048 :])
    Image.open(path).load()  # Pillow alone sees nothing wrong
    return path


def test_damage_libjpeg_warns_about_fails_the_image(tmp_path):
    with pytest.raises(CorruptImage, match=r"^corrupt JPEG data: .*\(libjpeg-turbo\)$"):
        inspect_file(scan_cut_short(tmp_path), **LIMITS)


def test_damage_can_be_marked_instead(tmp_path):
    info = inspect_file(scan_cut_short(tmp_path), **LIMITS, on_damage="mark")

    assert info.width == 600
    assert info.damage.startswith("corrupt JPEG data: ") and info.damage.endswith("(libjpeg-turbo)")


def test_a_sound_file_has_no_damage_to_mark(tmp_path):
    path = tmp_path / "sound.jpg"
    make_photo(300, 200).save(path)

    assert inspect_file(path, **LIMITS, on_damage="mark").damage is None


def test_a_tiff_directory_offset_no_file_can_have_is_corrupt_not_transient(tmp_path, corpus):
    """Found by bench/fuzz.py: the seek fails with EINVAL, which is the file's fault, not the disk's."""
    data = bytearray((corpus / "formats" / "hopper_bigtiff.tif").read_bytes())
    data[15] = 0x0F  # the top byte of BigTIFF's 8-byte offset of its first directory
    path = tmp_path / "far.tif"
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptImage, match=r"^corrupt TIFF file: it points to an offset no file can have"):
        inspect_file(path, **LIMITS)


def test_a_tiff_directory_without_dimensions_is_corrupt(tmp_path, corpus):
    """Found by bench/fuzz.py: Pillow's TIFF plugin raises TypeError("Missing dimensions")."""
    data = bytearray((corpus / "formats" / "hopper.iccprofile.tif").read_bytes())
    data[8] = 35  # the first directory's entry count: its entries now start mid-tag
    path = tmp_path / "no-size.tif"
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptImage, match=r"^corrupt TIFF file: Missing dimensions$"):
        inspect_file(path, **LIMITS)
