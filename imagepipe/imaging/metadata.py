"""Searchable facts about a source image: size, camera, place, colours and fingerprints.

Colour and hash work runs on a thumbnail of at most 256 px (a JPEG is even decoded at reduced
scale), so a 48 MP photo costs about as much as a small one; EXIF is read without decoding.
"""

import io
import logging

from PIL import ImageCms

from imagepipe.imaging import colors, exif
from imagepipe.imaging.fingerprints import blurhash, phash
from imagepipe.imaging.opening import format_name, load_upright, open_image

logger = logging.getLogger(__name__)

THUMBNAIL_PX = 256
_SECOND_COLOR_SHARE = 0.25


def describe(path, *, max_pixels, max_file_bytes):
    """Everything imagepipe records about ``path``, as a dict of plain values (None if unknown).

    Raises the same PermanentError subclasses as inspect_file() for files it refuses.
    The file is opened twice: once for its header and EXIF, once for a thumbnail decoded at
    reduced scale; no full-size decode and no hashing happen here.
    """
    with open_image(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes) as image:
        width, height = exif.displayed_size(image.size, exif.orientation(image))
        facts = {
            "width": width,
            "height": height,
            "format": format_name(image),
            "mode": image.mode,
            "frames": getattr(image, "n_frames", 1),
            **exif.camera_fields(image),
            "icc_description": _icc_description(image.info.get("icc_profile")),
        }
    # Decoding the thumbnail also proves the pixel data sound, as inspect_file() would.
    thumbnail = load_upright(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes, max_width=THUMBNAIL_PX)
    thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    facts |= {
        "has_alpha": thumbnail.mode == "RGBA",
        "dominant_colors": colors.dominant_colors(thumbnail),
        "average_color": colors.average_color(thumbnail),
        "blurhash": blurhash(thumbnail),
        "phash": phash(thumbnail),
    }
    facts["summary"] = summary(facts)
    return facts


def summary(facts):
    """One searchable line, e.g. "JPEG 640x480 NIKON COOLPIX P6000, 2008-10-22, f/5.9 1/75s
    ISO 64 24mm, GPS 43.47,11.89, mostly green and grey"."""
    parts = [f"{facts['format']} {facts['width']}x{facts['height']}"]
    camera = _camera(facts["camera_make"], facts["camera_model"])
    if camera:
        parts[0] += f" {camera}"
    if facts["taken_at"]:
        parts.append(facts["taken_at"].date().isoformat())
    exposure = " ".join(
        text
        for text in (
            facts["f_number"] and f"f/{facts['f_number']:g}",
            facts["exposure_time"] and f"{facts['exposure_time']}s",
            facts["iso"] and f"ISO {facts['iso']}",
            facts["focal_length_mm"] and f"{facts['focal_length_mm']:g}mm",
        )
        if text
    )
    if exposure:
        parts.append(exposure)
    if facts["gps_latitude"] is not None and facts["gps_longitude"] is not None:
        parts.append(f"GPS {facts['gps_latitude']:.2f},{facts['gps_longitude']:.2f}")
    if facts["dominant_colors"]:
        parts.append(f"mostly {_color_words(facts['dominant_colors'])}")
    return ", ".join(parts)


def _camera(make, model):
    """The camera named once: "Canon EOS 40D", not "Canon Canon EOS 40D" (make "Canon")."""
    if model and make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make, model) if part)


def _color_words(dominant):
    names = [colors.color_name(dominant[0]["hex"])]
    for color in dominant[1:]:
        name = colors.color_name(color["hex"])
        if color["share"] >= _SECOND_COLOR_SHARE and name not in names:
            names.append(name)
            break
    return " and ".join(names)


def _icc_description(icc_profile):
    if not icc_profile:
        return None
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        logger.debug("unreadable ICC profile", exc_info=True)
        return None
    return description.strip() or None
