"""Resize an upright image to the configured widths and encode each size as WebP and AVIF."""

from dataclasses import dataclass

from PIL import Image

from imagepipe import settings as defaults
from imagepipe.imaging import codecs
from imagepipe.imaging.opening import load_upright

# Resizing steps first shrink by whole factors with reduce() while the remaining ratio stays
# above this gap, then finish with Lanczos: near-identical to pure Lanczos, several times faster.
_REDUCING_GAP = 3.0


@dataclass(frozen=True)
class EncoderOptions:
    """Encoder settings; AVIF threads are bounded because the encoder would use every CPU."""

    webp_quality: int = defaults.DEFAULT_WEBP_QUALITY
    webp_method: int = defaults.DEFAULT_WEBP_METHOD
    avif_quality: int = defaults.DEFAULT_AVIF_QUALITY
    avif_speed: int = defaults.DEFAULT_AVIF_SPEED
    avif_threads: int = defaults.DEFAULT_AVIF_THREADS

    @classmethod
    def from_settings(cls, settings):
        """The options named alike in ``settings`` (an imagepipe.settings.Settings)."""
        return cls(
            webp_quality=settings.webp_quality,
            webp_method=settings.webp_method,
            avif_quality=settings.avif_quality,
            avif_speed=settings.avif_speed,
            avif_threads=settings.avif_threads,
        )


@dataclass(frozen=True)
class RenderedVariant:
    """One encoded output: its pixel size, format ("webp" or "avif") and bytes."""

    width: int
    height: int
    format: str
    data: bytes


def plan_widths(display_width, widths):
    """The target ``widths`` that do not upscale, largest first; the image's own width if none fit."""
    fitting = sorted({width for width in widths if width <= display_width}, reverse=True)
    return tuple(fitting) or (display_width,)


def unencodable(width, height, widths, formats):
    """Why variants of a ``width`` x ``height`` image (as displayed) cannot be written in
    ``formats``, or None: a strip of an extreme shape is, at a variant's width, taller than
    the format allows (a 40 x 1,200,000 picture at 640 px wide)."""
    for target in plan_widths(width, widths):
        tall = max(1, round(height * target / width))
        for fmt in formats:
            if max(target, tall) > codecs.MAX_SIDE_PX[fmt]:
                limit = codecs.MAX_SIDE_PX[fmt]
                return f"its {target} px wide variant would be {tall} px tall, over {fmt.upper()}'s {limit} px limit"
    return None


def resize_cascade(image, widths):
    """``image`` resized to each planned width, largest first.

    Each size is resized from the previous one rather than from the original, so the small
    sizes cost little even for a large source.
    """
    resized = []
    current = image
    for width in plan_widths(image.width, widths):
        height = max(1, round(image.height * width / image.width))
        if current.size != (width, height):
            current = current.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
        resized.append(current)
    return resized


def render_variants(image, widths, formats, options):
    """Encode ``image`` (from load_upright) at each planned width in each of ``formats``."""
    unknown = set(formats) - set(codecs.FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {', '.join(codecs.FORMATS)}")
    return [
        RenderedVariant(size.width, size.height, fmt, codecs.encode(size, fmt, options))
        for size in resize_cascade(image, widths)
        for fmt in formats
    ]


def render_file(path, widths, formats, options, *, max_pixels, max_file_bytes):
    """render_variants of ``path`` decoded upright, no wider than needed: one call that runs whole
    in an isolated child (imagepipe.isolation) and returns only bytes and sizes."""
    picture = load_upright(path, max_width=max(widths), max_pixels=max_pixels, max_file_bytes=max_file_bytes)
    return render_variants(picture, widths, formats, options)
