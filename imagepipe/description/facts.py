"""What can be said of an image without a model: its colours, shape, kind and EXIF hints.

Each fact comes from a measurement or a camera's own record, and says so:

- colours: the named dominant colours (imagepipe.imaging.colors) covering at least
  ``_COLOR_SHARE`` of a 256 px thumbnail, largest first;
- orientation: "square" within ``_SQUARE_TOLERANCE`` of 1:1, else "landscape" or "portrait";
  "panorama" too when a picture that is not a screenshot is ``PANORAMA_RATIO`` (2:1) or wider;
- kind, by this rule, in this order:
  1. camera EXIF (make, model or an exposure time) -> "photo": a camera wrote it;
  2. the share of "flat" pixels of a 512 px copy (exactly equal to their right and lower
     neighbours): on the corpus, photos had at most 0.19 (sensor noise, grain and gradients vary
     every pixel), drawn images (screenshots, charts, logos) 0.63 to 1.0, even as JPEG. At or
     over ``_FLAT_GRAPHIC`` (0.5) it is drawn: "screenshot" when text was read in it (a user
     interface or a document), else "graphic"; under ``_FLAT_PHOTO`` (0.25) -> "photo";
  3. in between (a dithered GIF, a small pattern) -> "" : it cannot be told.
  A photo stripped of its EXIF that is mostly black sky reads as flat: its kind is then wrong,
  which is why the camera's record comes first.
- hints: "flash" when EXIF Flash says it fired; "night" when SceneCaptureType says so, or when
  the picture is dark (mean luminance under ``_DARK_LEVEL`` of 255) and was exposed for 1/15 s
  or longer or at ISO 1600 or more; "dark" for a dark picture otherwise.
"""

import numpy as np
from PIL import ImageStat

from imagepipe.imaging import colors
from imagepipe.imaging.metadata import THUMBNAIL_PX, _camera

#: The long side of the copy whose flat pixels are counted, in pixels.
FLAT_LONG_SIDE_PX = 512
PANORAMA_RATIO = 2.0
_SQUARE_TOLERANCE = 0.05
_COLOR_SHARE = 0.10
_FLAT_GRAPHIC = 0.5
_FLAT_PHOTO = 0.25
_DARK_LEVEL = 60
_LONG_EXPOSURE_S = 1 / 15
_HIGH_ISO = 1600
#: Black and white: 99 % of the pixels within 12 levels of grey across R, G and B (a grey JPEG
#: stored as colour keeps a few levels of chroma noise; a sepia print has more than 12).
_GREY_PERCENTILE = 99
_GREY_SPREAD = 12


def gather(picture, *, width, height, camera, scene, text_found=False):
    """Every fact of the picture as a dict of plain values.

    ``picture`` is an upright copy of at most FLAT_LONG_SIDE_PX; ``width`` and ``height`` the
    displayed size of the original; ``camera`` is exif.camera_fields and ``scene``
    exif.scene_fields of the original; ``text_found`` whether OCR read text in it.
    """
    flat = flat_share(picture)
    thumbnail = picture.copy()
    thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    kind = kind_of(flat, camera=has_camera(camera), text_found=text_found)
    shape = orientation(width, height)
    return {
        "colors": color_names(thumbnail),
        "orientation": shape,
        "panorama": width >= PANORAMA_RATIO * height and kind != "screenshot",
        "kind": kind,
        "flat_share": round(flat, 3),
        "hints": hints(thumbnail, camera, scene),
        "camera": _camera(camera.get("camera_make"), camera.get("camera_model")),
        "lens": camera.get("lens") or "",
        "camera_make": camera.get("camera_make") or "",
    }


def color_names(thumbnail):
    """The distinct names of the dominant colours of at least _COLOR_SHARE, largest first."""
    shares = {}
    for color in colors.dominant_colors(thumbnail):
        name = colors.color_name(color["hex"])
        shares[name] = shares.get(name, 0) + color["share"]
    ranked = sorted(shares.items(), key=lambda item: -item[1])
    return [name for name, share in ranked if share >= _COLOR_SHARE]


def _is_grey(thumbnail):
    """No pixel far from grey: the largest channel difference of every pixel is small."""
    pixels = np.asarray(colors.flatten(thumbnail).convert("RGB"), dtype=np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    return float(np.percentile(spread, _GREY_PERCENTILE)) <= _GREY_SPREAD


def orientation(width, height):
    """ "landscape", "portrait" or "square" (within _SQUARE_TOLERANCE of 1:1)."""
    if abs(width - height) <= _SQUARE_TOLERANCE * max(width, height):
        return "square"
    return "landscape" if width > height else "portrait"


def flat_share(picture):
    """The share of pixels exactly equal to their right and lower neighbours (0..1)."""
    pixels = np.asarray(colors.flatten(picture)).astype(np.int16)
    if pixels.shape[0] < 2 or pixels.shape[1] < 2:
        return 1.0
    same_right = (pixels[:-1, 1:] == pixels[:-1, :-1]).all(axis=2)
    same_below = (pixels[1:, :-1] == pixels[:-1, :-1]).all(axis=2)
    return float((same_right & same_below).mean())


def has_camera(camera):
    """Whether a camera wrote EXIF for this image: a make, a model or an exposure time."""
    return any(camera.get(key) for key in ("camera_make", "camera_model", "exposure_time"))


def kind_of(flat, *, camera, text_found):
    """ "photo", "screenshot", "graphic" or "" by the rule in this module's docstring."""
    if camera:
        return "photo"
    if flat >= _FLAT_GRAPHIC:
        return "screenshot" if text_found else "graphic"
    if flat < _FLAT_PHOTO:
        return "photo"
    return ""


def hints(thumbnail, camera, scene):
    """ "black and white", "flash", "night" and "dark" as the pixels and the EXIF justify them."""
    found = ["black and white"] if _is_grey(thumbnail) else []
    if scene.get("flash_fired"):
        found.append("flash")
    dark = ImageStat.Stat(colors.flatten(thumbnail).convert("L")).mean[0] < _DARK_LEVEL
    exposure = scene.get("exposure_s") or 0
    iso = camera.get("iso") or 0
    if scene.get("scene_capture_type") == "night" or (dark and (exposure >= _LONG_EXPOSURE_S or iso >= _HIGH_ISO)):
        found.append("night")
    elif dark:
        found.append("dark")
    return found
