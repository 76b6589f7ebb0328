"""How each output format is encoded, with nothing private carried into the file.

Pillow 13 encodes AVIF itself. Only an older Pillow needs pillow-avif-plugin, and importing
that plugin replaces Pillow's own AVIF support and copies the source's EXIF (GPS included)
into outputs unless told otherwise, so it is imported only when Pillow lacks AVIF, and every
save passes empty EXIF, XMP and ICC explicitly.
"""

import functools
import io

from PIL import features

FORMATS = ("webp", "avif")
#: The longest side each format can hold (libwebp's limit; AV1's frame size).
MAX_SIDE_PX = {"webp": 16383, "avif": 65536}


@functools.cache
def ensure_avif():
    """Make sure Pillow can write AVIF; raises RuntimeError when no encoder is installed."""
    if features.check("avif"):
        return
    try:
        import pillow_avif  # noqa: F401 - importing registers the plugin
    except ImportError as exc:
        raise RuntimeError("AVIF output needs Pillow >= 11.3 built with libavif, or pillow-avif-plugin") from exc


def encode(image, fmt, options):
    """``image`` encoded as ``fmt`` ("webp" or "avif") with ``options`` (an EncoderOptions)."""
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(
            buffer, "WEBP", quality=options.webp_quality, method=options.webp_method, exif=b"", xmp=b"", icc_profile=b""
        )
    elif fmt == "avif":
        ensure_avif()
        image.save(
            buffer,
            "AVIF",
            quality=options.avif_quality,
            speed=options.avif_speed,
            max_threads=options.avif_threads,
            exif=b"",
            xmp=b"",
            icc_profile=b"",
        )
    else:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    return buffer.getvalue()
