"""Metadata that cannot be true of its file: a 0/0 number in IFD0, an XMP size of another shape."""

import io

import pytest
from PIL import Image, TiffImagePlugin

from imagepipe.errors import CorruptImage
from imagepipe.imaging import consistency, inspect_file
from tests.imaging.helpers import LIMITS, make_photo


def jpeg_with(exif=None, xmp=None, size=(300, 200)):
    buffer = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    if xmp is not None:
        options["xmp"] = xmp
    make_photo(*size).save(buffer, "JPEG", **options)
    return Image.open(io.BytesIO(buffer.getvalue()))


def exif_with(**tags):
    exif = Image.Exif()
    for name, value in tags.items():
        if name in ("ExifImageWidth", "ExifImageHeight"):
            exif.get_ifd(0x8769)[getattr(Image.ExifTags.Base, name)] = value
        else:
            exif[getattr(Image.ExifTags.Base, name)] = value
    return exif


def xmp(width, height):
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        f"<exif:PixelXDimension>{width}</exif:PixelXDimension><exif:PixelYDimension>{height}</exif:PixelYDimension>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def test_a_zero_over_zero_resolution_is_not_a_number():
    image = jpeg_with(exif=exif_with(XResolution=TiffImagePlugin.IFDRational(0, 0)))

    assert consistency.find_contradiction(image, image.size) == "EXIF XResolution is 0/0, not a number"


def test_ordinary_resolutions_pass():
    image = jpeg_with(exif=exif_with(XResolution=72, YResolution=TiffImagePlugin.IFDRational(300, 1)))

    assert consistency.find_contradiction(image, image.size) is None


@pytest.mark.parametrize("declared", [(300, 200), (3000, 2000), (300, 900)])
def test_a_stale_exif_size_passes_whatever_its_shape(declared):
    """A crop that copied its EXIF block unchanged is an honest photo."""
    image = jpeg_with(exif=exif_with(ExifImageWidth=declared[0], ExifImageHeight=declared[1]))

    assert consistency.find_contradiction(image, image.size) is None


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ((636, 227), None),  # the truth
        ((6360, 2270), None),  # a scaled copy that kept its original's packet
        ((6361, 2269), None),  # ... with another tool's rounding
        ((227, 636), None),  # pixels turned by 90 degrees, size not updated
        ((636, 1020), "its XMP declares a 636x1020 picture, the image is 636x227"),  # cut out of a taller one
    ],
)
def test_a_declared_xmp_size_must_have_the_shape_of_the_pixels(declared, expected):
    image = jpeg_with(xmp=xmp(*declared), size=(636, 227))

    assert consistency.find_contradiction(image, image.size) == expected


def test_a_scaled_copy_with_its_original_xmp_size_passes():
    assert consistency.find_contradiction(jpeg_with(xmp=xmp(2730, 1790), size=(100, 66)), (100, 66)) is None


@pytest.mark.parametrize(
    "name",
    [
        "camera/Nikon_D70.jpg",  # XMP size 2730x1790 of a 100x66 copy: same shape
        "formats/flower.webp",  # EXIF size 2272x1704 of a 480x360 copy: same shape
    ],
)
def test_tolerated_metadata_damage_in_the_corpus_passes(corpus, name):
    with Image.open(corpus / name) as image:
        assert consistency.find_contradiction(image, image.size) is None
    assert inspect_file(corpus / name, **LIMITS)


def test_a_truncated_exif_entry_is_tolerated(corpus):
    """hopper_bad_exif's EXIF is damaged but says nothing untrue (its scan data is damaged too,
    which ingest refuses: tests/imaging/test_opening.py)."""
    with Image.open(corpus / "bad" / "hopper_bad_exif.jpg") as image:
        assert consistency.find_contradiction(image, image.size) is None


def test_inspect_file_names_the_contradiction(tmp_path):
    path = tmp_path / "cut.jpg"
    make_photo(300, 200).save(path, xmp=xmp(300, 900))

    with pytest.raises(CorruptImage, match=r"^corrupt JPEG metadata: its XMP declares a 300x900 picture"):
        inspect_file(path, **LIMITS)
