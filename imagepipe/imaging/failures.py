"""Turn what Pillow raises on a bad file into imagepipe's specific, permanent errors.

Pillow reports problems with a handful of built-in exception types whose messages are terse;
a stored error must say what was wrong with the upload ("truncated JPEG file", "unsupported
format PSD") and must never show a server path.
"""

import errno
import re
import struct

from PIL import Image

from imagepipe.errors import CorruptImage, PixelLimitExceeded, TransientError, TruncatedImage, UnsupportedFormat
from imagepipe.imaging import heif

# What Pillow's decoders and parsers raise on bad data (ZeroDivisionError and IndexError come
# from malformed headers in some plugins, TypeError from a TIFF directory without the image's
# dimensions, RuntimeError from pillow-heif and libavif). A
# UserWarning arrives as an exception only where warning filters say "error" (as under
# pytest here); it is then one more reason the file cannot be read.
DECODE_ERRORS = (
    UserWarning,
    OSError,
    SyntaxError,
    ValueError,
    struct.error,
    EOFError,
    ZeroDivisionError,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
)

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
#: What a seek or read at an offset taken from a damaged header fails with.
_IMPOSSIBLE_OFFSET = (errno.EINVAL, errno.EOVERFLOW)


def pixel_limit(width, height, limit, *, why=""):
    """The error for an image of ``width`` x ``height`` over ``limit`` pixels."""
    pixels = width * height
    return PixelLimitExceeded(
        f"image{why} is {width}x{height} = {pixels / 1e6:.1f} MP, over the {limit / 1e6:.1f} MP limit",
        pixels=pixels,
        limit=limit,
    )


def decompression_bomb(exc, limit):
    """The error for Pillow's own decompression-bomb guard, which fires before a size is known.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS``, so with a higher ``limit`` configured the
    message names the lower limit that actually applied.
    """
    found = _BOMB_PIXELS.search(str(exc))
    pixels = int(found.group(1)) if found else None
    applied = min(limit, Image.MAX_IMAGE_PIXELS or limit)
    size = f"is {pixels / 1e6:.1f} MP" if pixels else "has too many pixels"
    return PixelLimitExceeded(
        f"image {size}, over the {applied / 1e6:.1f} MP limit (a likely decompression bomb)",
        pixels=pixels,
        limit=applied,
    )


def unidentified(prefix, allowed):
    """The error for a file no allowed Pillow plugin would open, named as precisely as possible."""
    if heif.is_heif(prefix) and "HEIF" not in allowed:
        return UnsupportedFormat("unsupported format HEIF (install imagepipe[heif])")
    name = sniff(prefix)
    if name is None:
        return UnsupportedFormat("not a recognised image format")
    if name not in allowed:
        return UnsupportedFormat(f"unsupported format {name}")
    return CorruptImage(f"corrupt {name} file: its header cannot be read")


def decode_failure(exc, format_name, filename):
    """The error for an exception raised while parsing or decoding an image.

    An OSError with an errno is the disk or the system failing (EIO, ESTALE on a network
    MEDIA_ROOT, EMFILE), not the file: that one is worth a retry. Pillow's own decode errors
    are OSErrors without an errno, and so is a seek to an offset the file itself gives that
    no file can have (EINVAL: a negative one, from a damaged TIFF directory, say).
    """
    what = f"{format_name} file" if format_name else "image file"
    if isinstance(exc, OSError) and exc.errno in _IMPOSSIBLE_OFFSET:
        return CorruptImage(f"corrupt {what}: it points to an offset no file can have ({exc.strerror})")
    if isinstance(exc, OSError) and exc.errno is not None:
        return TransientError(f"cannot read {what}: {exc.strerror or type(exc).__name__}")
    reason = (str(exc) or type(exc).__name__).replace(str(filename), "<file>")
    if isinstance(exc, OSError) and "truncated" in reason.lower():
        return TruncatedImage(f"truncated {what}: {reason}")
    return CorruptImage(f"corrupt {what}: {reason}")


def sniff(prefix):
    """The name of the Pillow format whose signature ``prefix`` carries, or None.

    Uses each plugin's signature check only (no parsing), so naming a format outside the
    allowlist never runs that format's decoder.
    """
    Image.init()
    for name in Image.ID:
        accept = Image.OPEN[name][1]
        verdict = accept(prefix) if accept else False
        if verdict and not isinstance(verdict, str):  # a str is a plugin's "cannot tell" note
            return name
    return None
