"""Orientation and camera facts from EXIF, read without decoding pixels.

EXIF in the wild is often broken (zero denominators, truncated IFDs, garbage dates), so every
read here is tolerant: a field that cannot be understood becomes None and the image is still
processed.
"""

import datetime
import logging
import math

from PIL import ExifTags, Image

logger = logging.getLogger(__name__)

# The transposition that makes each EXIF orientation upright (as ImageOps.exif_transpose does).
TRANSPOSITIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Orientations whose stored width is the displayed height.
SWAPS_AXES = frozenset({5, 6, 7, 8})

_DATE_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S")
_TEXT_STRIP = "\x00 \t\r\n"


def orientation(image):
    """The EXIF orientation of ``image`` (1 to 8); 1 when absent or unreadable."""
    value = _get(_exif(image), ExifTags.Base.Orientation)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def displayed_size(size, code):
    """A stored (width, height) as displayed: orientations 5-8 swap the axes."""
    return (size[1], size[0]) if code in SWAPS_AXES else tuple(size)


def camera_fields(image):
    """Camera, exposure and GPS facts of ``image``'s EXIF, None for each one unknown or broken."""
    exif = _exif(image)
    shot = _ifd(exif, ExifTags.IFD.Exif)
    gps = _ifd(exif, ExifTags.IFD.GPSInfo)
    focal_length = _number(_get(shot, ExifTags.Base.FocalLength))
    f_number = _number(_get(shot, ExifTags.Base.FNumber))
    return {
        "camera_make": _text(_get(exif, ExifTags.Base.Make)),
        "camera_model": _text(_get(exif, ExifTags.Base.Model)),
        "lens": _text(_get(shot, ExifTags.Base.LensModel)),
        "taken_at": _datetime(_get(shot, ExifTags.Base.DateTimeOriginal))
        or _datetime(_get(shot, ExifTags.Base.DateTimeDigitized)),
        "exposure_time": _exposure(_get(shot, ExifTags.Base.ExposureTime)),
        "f_number": round(f_number, 2) if f_number and f_number > 0 else None,
        "iso": _positive_int(_get(shot, ExifTags.Base.ISOSpeedRatings)),
        "focal_length_mm": round(focal_length, 2) if focal_length and focal_length > 0 else None,
        "gps_latitude": _coordinate(
            _get(gps, ExifTags.GPS.GPSLatitude), _get(gps, ExifTags.GPS.GPSLatitudeRef), "S", 90
        ),
        "gps_longitude": _coordinate(
            _get(gps, ExifTags.GPS.GPSLongitude), _get(gps, ExifTags.GPS.GPSLongitudeRef), "W", 180
        ),
    }


_SCENE_CAPTURE_TYPES = {0: "standard", 1: "landscape", 2: "portrait", 3: "night"}


def scene_fields(image):
    """Flash and scene facts of ``image``'s EXIF: ``flash_fired`` (bit 0 of Flash),
    ``scene_capture_type`` ("standard", "landscape", "portrait", "night") and ``exposure_s``
    (seconds, a number, where camera_fields gives the photographer's "1/160"); None if unknown."""
    shot = _ifd(_exif(image), ExifTags.IFD.Exif)
    flash = _number(_get(shot, ExifTags.Base.Flash))
    scene = _number(_get(shot, ExifTags.Base.SceneCaptureType))
    exposure = _number(_get(shot, ExifTags.Base.ExposureTime))
    return {
        "flash_fired": bool(int(flash) & 1) if flash is not None and flash >= 0 else None,
        "scene_capture_type": _SCENE_CAPTURE_TYPES.get(int(scene)) if scene is not None else None,
        "exposure_s": exposure if exposure and exposure > 0 else None,
    }


def entries(image):
    """Every (tag, value) of ``image``'s primary EXIF directory (IFD0) that can be read."""
    directory = _exif(image)
    for tag in list(directory):
        value = _get(directory, tag)
        if value is not None:
            yield tag, value


def _exif(image):
    try:
        return image.getexif()
    except Exception:  # noqa: BLE001 - any parser failure means "no usable EXIF", never a failed image
        logger.debug("unreadable EXIF ignored", exc_info=True)
        return Image.Exif()


def _get(directory, tag):
    """One value of an EXIF directory; values are decoded lazily, so reading one can fail too."""
    try:
        return directory.get(tag)
    except Exception:  # noqa: BLE001 - as above, for one value
        logger.debug("unreadable EXIF tag %#x ignored", tag, exc_info=True)
        return None


def _ifd(exif, tag):
    try:
        ifd = exif.get_ifd(tag)
    except Exception:  # noqa: BLE001 - as above, for one sub-directory
        logger.debug("unreadable EXIF directory %#x ignored", tag, exc_info=True)
        return {}
    return ifd if isinstance(ifd, dict) else {}


def _text(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    return value.strip(_TEXT_STRIP) or None


def _number(value):
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _positive_int(value):
    number = _number(value)
    return round(number) if number and number >= 1 else None


def _datetime(value):
    text = _text(value)
    for date_format in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text[:19], date_format)
        except (TypeError, ValueError):
            continue
    return None


def _exposure(value):
    """EXIF exposure time as photographers write it: "1/160", "1/3", but "0.6" and "2.5"."""
    seconds = _number(value)
    if not seconds or seconds <= 0:
        return None
    per_second = 1 / seconds
    if per_second >= 4 or (per_second > 1 and abs(per_second - round(per_second)) < 0.05):
        return f"1/{round(per_second)}"
    return f"{seconds:g}"


def _coordinate(value, ref, negative_ref, bound):
    """Degrees, minutes, seconds and a N/S/E/W reference as signed decimal degrees."""
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        return None
    degrees = sum(part / 60**i for i, part in enumerate(parts))
    if degrees > bound:
        return None
    if (_text(ref) or "").upper().startswith(negative_ref):
        degrees = -degrees
    return round(degrees, 6)
