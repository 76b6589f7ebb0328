"""Metadata that cannot be true of the file it is in.

Most broken metadata is harmless and tolerated (imaging/exif.py reads what it can): a
truncated EXIF directory, a stale size in a scaled copy. Two kinds are refused, because no
honest writer produces them and they mean the file is not what it says:

* a number of the primary image's own description (EXIF IFD0, the TIFF fields: resolution,
  white point, primaries, YCbCr coefficients, reference black/white) stored as a fraction
  with a zero denominator, which is no number at all (``0/0``);
* a size declared by XMP (exif:PixelXDimension/PixelYDimension) whose shape differs from the
  pixels': the editors that write XMP keep it in step with the pixels, so the picture was cut
  or its header rewritten behind their back. A declared size of the same shape (a scaled copy
  that kept its original's packet) or turned by 90 degrees passes; rounding is allowed for.
  EXIF's own pixel size is not checked: tools that crop and copy the EXIF block unchanged
  (Pillow's ``save(exif=...)`` among them) leave it stale on honest photos.
"""

import re

from PIL import ExifTags, TiffImagePlugin

from imagepipe.imaging import exif

_XMP_KEYS = ("xmp", "XML:com.adobe.xmp")
_XMP_SIZE = {
    axis: re.compile(rb"exif:Pixel" + axis + rb"Dimension\s*(?:=\s*[\"']|>)\s*(\d{1,9})\s*[\"'<]")
    for axis in (b"X", b"Y")
}
# A scaled copy's height, computed from its width and the declared shape, may be off by this
# fraction (or one pixel, for small images) after each tool's rounding.
_SHAPE_TOLERANCE = 0.02


def find_contradiction(image, size):
    """Describe what in ``image``'s metadata cannot be true of it, or None.

    ``size`` is the stored (width, height): after ``draft()`` a JPEG's ``image.size`` is the
    reduced decoding size.
    """
    undefined = _undefined_number(image)
    if undefined:
        return undefined
    for source, declared in _declared_sizes(image):
        if not _same_shape(declared, size):
            return f"its {source} declares a {declared[0]}x{declared[1]} picture, the image is {size[0]}x{size[1]}"
    return None


def _undefined_number(image):
    for tag, value in exif.entries(image):
        for part in value if isinstance(value, tuple) else (value,):
            if isinstance(part, TiffImagePlugin.IFDRational) and part.denominator == 0:
                return f"EXIF {_tag_name(tag)} is {part.numerator}/0, not a number"
    return None


def _declared_sizes(image):
    packet = next((image.info[key] for key in _XMP_KEYS if image.info.get(key)), b"")
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    found = [pattern.search(packet) for pattern in _XMP_SIZE.values()]
    if all(found):
        size = tuple(int(match.group(1)) for match in found)
        if all(size):
            yield "XMP", size


def _same_shape(declared, actual):
    """Whether ``actual`` is ``declared`` scaled (or turned by 90 degrees), up to rounding."""
    width, height = actual
    for declared_width, declared_height in (declared, declared[::-1]):
        expected_height = width * declared_height / declared_width
        if abs(expected_height - height) <= max(1, _SHAPE_TOLERANCE * height):
            return True
    return False


def _tag_name(tag):
    try:
        return ExifTags.Base(tag).name
    except ValueError:
        return f"tag {tag:#06x}"
