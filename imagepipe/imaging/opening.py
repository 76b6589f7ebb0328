"""Open uploaded files safely and decode them upright, in sRGB, with nothing private attached.

Every read of a source goes through open_image(), so inspect_file(), load_upright() and the
metadata code apply the same limits (bytes, pixels, format allowlist, decompression bombs)
and report a bad file with the same specific, permanent error.
"""

import contextlib
import hashlib
import logging
import mmap
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from imagepipe.errors import CorruptImage, EmptyFile, FileTooLarge, HiddenPayload, SourceRejected, TransientError
from imagepipe.imaging import consistency, exif, failures, gif, heif, jpeg, png, polyglot
from imagepipe.imaging.colorspace import to_srgb
from imagepipe.imaging.modes import to_8bit
from imagepipe.settings import DEFAULT_ON_DAMAGE

logger = logging.getLogger(__name__)

# Pillow format names accepted as input; every other plugin is never even tried.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF") + (("HEIF",) if heif.INSTALLED else ())

_PREFIX_BYTES = 64
# Damage that a format's decoder hides (it decodes "successfully"), found in the file's bytes.
_DATA_CHECKS = {"JPEG": jpeg.find_damage, "PNG": png.find_damage}
_CHECK_SCALE = 8
_HASH_CHUNK_BYTES = 1 << 20
# warnings.catch_warnings swaps process-wide state; worker threads must not interleave it.
_WARNINGS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SourceInfo:
    """What inspect_file() learnt about a source; width and height as displayed (EXIF-rotated)."""

    format: str
    width: int
    height: int
    bytes: int
    sha256: str
    mode: str
    frames: int
    #: Damage the decoder reported and concealed, kept when ``on_damage="mark"``; else None.
    damage: str | None = None


def inspect_file(path, *, max_pixels, max_file_bytes, on_damage=DEFAULT_ON_DAMAGE):
    """Check that ``path`` is an image imagepipe accepts and can decode, and describe it.

    The first frame is decoded completely but cheaply (a JPEG at 1/8 scale, which still reads
    every byte of its entropy data), so truncated and corrupt files fail here, before any work
    is queued for them, and so do files that contradict their own metadata or are another kind
    of file too. Files that decode only because the decoder conceals damage fail as well, or,
    with ``on_damage="mark"``, pass with the damage described in ``SourceInfo.damage``. Raises
    a PermanentError subclass saying what is wrong. Only here: later steps open a file this
    already passed.
    """
    with open_image(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes) as image:
        fmt, mode, frames = format_name(image), image.mode, getattr(image, "n_frames", 1)
        stored = image.size
        damage = _check_bytes(path, fmt)
        if damage and on_damage != "mark":
            raise CorruptImage(damage)
        if fmt == "JPEG":
            image.draft(None, (max(1, stored[0] // _CHECK_SCALE), max(1, stored[1] // _CHECK_SCALE)))
        image.load()
        contradiction = consistency.find_contradiction(image, stored)
        if contradiction:
            raise CorruptImage(f"corrupt {fmt} metadata: {contradiction}")
        width, height = exif.displayed_size(stored, exif.orientation(image))
    digest, size = _sha256(Path(path))
    return SourceInfo(
        format=fmt, width=width, height=height, bytes=size, sha256=digest, mode=mode, frames=frames, damage=damage
    )


def load_upright(path, *, max_pixels, max_file_bytes, max_width=None):
    """The first frame of ``path``, upright, as sRGB pixels in mode RGB, RGBA or L.

    With ``max_width``, a JPEG is decoded reduced by the largest factor (2, 4 or 8) that keeps
    its displayed width at least ``max_width``; other formats decode at full size. ``info`` is
    emptied so no EXIF, XMP or ICC data can follow the pixels into an output.
    """
    with open_image(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes) as image:
        icc_profile = image.info.get("icc_profile")
        if max_width and format_name(image) == "JPEG":
            # draft() scales the stored axes; orientations 5-8 display them swapped.
            swapped = exif.orientation(image) in exif.SWAPS_AXES
            image.draft(None, (1, max_width) if swapped else (max_width, 1))
        image.load()
        transposition = exif.TRANSPOSITIONS.get(exif.orientation(image))
        upright = image.transpose(transposition) if transposition is not None else image.copy()
        result = to_srgb(to_8bit(upright), icc_profile)
    result.info = {}
    return result


@contextlib.contextmanager
def open_image(path, *, max_pixels, max_file_bytes):
    """Open ``path`` after the byte, format, pixel and structure checks; yields the first frame.

    The image is opened, not decoded. Pillow errors raised inside the ``with`` block are turned
    into the matching PermanentError subclass, so callers can decode without their own mapping.
    """
    path = Path(path)
    _check_file_size(path, max_file_bytes)
    try:
        fp = open(path, "rb")
    except PermissionError:
        raise TransientError(f"cannot read source file: {path.name} (permission denied)") from None
    with fp:
        prefix = fp.read(_PREFIX_BYTES)
        fp.seek(0)
        _check_gif_canvas(fp, prefix, max_pixels)
        image = _open(fp, prefix, path, max_pixels)
        with image:
            try:
                yield image
            except failures.DECODE_ERRORS as exc:
                raise failures.decode_failure(exc, format_name(image), path) from exc


def format_name(image):
    """The image's format; a multi-picture JPEG (MPO) is reported as the JPEG it displays as."""
    return "JPEG" if image.format == "MPO" else image.format


def _check_file_size(path, limit):
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise SourceRejected(f"source file not found: {path.name}") from None
    if not stat.S_ISREG(status.st_mode):
        raise SourceRejected(f"source is not a regular file: {path.name}")
    if status.st_size == 0:
        raise EmptyFile("empty file (0 bytes)")
    if status.st_size > limit:
        raise FileTooLarge(f"file is {status.st_size:,} bytes, over the {limit:,} byte limit")


def _check_gif_canvas(fp, prefix, max_pixels):
    if not prefix.startswith(b"GIF"):
        return
    size = gif.canvas_size(fp)
    fp.seek(0)
    if size and size[0] * size[1] > max_pixels:
        raise failures.pixel_limit(*size, max_pixels, why=" (GIF canvas grown by its frames)")


def _open(fp, prefix, path, max_pixels):
    """Image.open with the allowlist, its failures mapped, and the pixel limit applied."""
    if "HEIF" in ALLOWED_FORMATS:
        heif.register_opener()
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(fp, formats=ALLOWED_FORMATS)
            # Frame headers and EXIF are parsed here too, so Pillow's warnings about damage in
            # them are logged (and never raised by a caller's filters); both are cached on the
            # image. A PNG whose EXIF follows its pixel data would have to decode first: skipped.
            getattr(image, "n_frames", 1)
            if image.format != "PNG" or "exif" in image.info:
                exif.orientation(image)
    except UnidentifiedImageError as exc:
        raise failures.unidentified(prefix, ALLOWED_FORMATS) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise failures.decompression_bomb(exc, max_pixels) from exc
    except failures.DECODE_ERRORS as exc:
        raise failures.decode_failure(exc, failures.sniff(prefix), path) from exc
    for warning in caught:
        logger.info("%s: %s", path.name, warning.message)
    if image.width * image.height > max_pixels:
        image.close()
        raise failures.pixel_limit(image.width, image.height, max_pixels)
    return image


def _check_bytes(path, fmt):
    """Refuse a polyglot; describe damage that ``fmt``'s decoder would hide, or None."""
    check = _DATA_CHECKS.get(fmt)
    with open(path, "rb") as fp, mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as data:
        payload = polyglot.find_payload(data)
        damage = check(data) if check and not payload else None
    if payload:
        raise HiddenPayload(f"the file is also {payload}")
    return f"corrupt {fmt} data: {damage}" if damage else None


def _sha256(path):
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fp:
        while chunk := fp.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
