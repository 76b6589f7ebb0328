"""Colour facts of a small thumbnail: average, dominant colours and a plain-words name.

Averages are taken in linear light (as blurhash does), so a photo of fine black and white
stripes averages to the mid grey the eye sees, not to the darker sRGB mean.
"""

import colorsys

import numpy as np
from PIL import Image

# Pixels more transparent than this are not part of the picture's colours.
_OPAQUE_ALPHA = 128
# Hue ranges (degrees, upper bound exclusive) and their names.
_HUES = (
    (15, "red"),
    (45, "orange"),
    (70, "yellow"),
    (165, "green"),
    (195, "cyan"),
    (255, "blue"),
    (290, "purple"),
    (345, "pink"),
    (360, "red"),
)


def srgb_to_linear(values):
    """sRGB levels 0..255 (array) as linear light 0..1."""
    v = np.asarray(values, dtype=np.float64) / 255
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values):
    """Linear light (array, clipped to 0..1) as sRGB levels 0..255, rounded like blurhash."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0, 1)
    srgb = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.trunc(srgb * 255 + 0.5).astype(int)


def flatten(image):
    """``image`` as RGB, transparent areas shown over white as a page would show them."""
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def opaque_pixels(image):
    """The (N, 3) RGB values of the visible pixels of ``image`` (all of them if none is)."""
    pixels = np.asarray(image.convert("RGBA")).reshape(-1, 4)
    visible = pixels[pixels[:, 3] >= _OPAQUE_ALPHA]
    return (visible if len(visible) else pixels)[:, :3]


def to_hex(rgb):
    """An (r, g, b) triple as "#rrggbb"."""
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


def average_color(image):
    """The linear-light mean colour of the visible pixels of ``image``, as "#rrggbb"."""
    return to_hex(linear_to_srgb(srgb_to_linear(opaque_pixels(image)).mean(axis=0)))


def dominant_colors(image, count=5):
    """Up to ``count`` {"hex", "share"} colours covering the visible pixels, largest share first.

    Median-cut quantisation (Pillow's, deterministic) of the visible pixels only, so the
    transparent border of a logo does not count as a colour.
    """
    pixels = opaque_pixels(image).astype(np.uint8)
    strip = Image.fromarray(pixels.reshape(1, -1, 3), "RGB")
    quantised = strip.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = np.asarray(quantised.getpalette()[: 3 * count]).reshape(-1, 3)
    counts = np.bincount(np.asarray(quantised).ravel(), minlength=len(palette))
    shares = {}
    for index in np.flatnonzero(counts):
        key = to_hex(palette[index])
        shares[key] = shares.get(key, 0) + counts[index] / len(pixels)
    ranked = sorted(shares.items(), key=lambda item: (-item[1], item[0]))
    return [{"hex": key, "share": round(float(share), 4)} for key, share in ranked]


def color_name(hex_color):
    """A plain name for "#rrggbb": "black", "white", "grey", "grey-blue", "brown", "green"..."""
    r, g, b = (int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    value = max(r, g, b)
    if value < 0.15:
        return "black"
    if saturation < 0.12 or value - min(r, g, b) < 0.06:
        return "white" if lightness > 0.9 else "grey"
    name = next(name for bound, name in _HUES if hue * 360 < bound)
    if name in ("orange", "red", "yellow") and value < 0.55 and saturation < 0.8:
        name = "brown"
    return f"grey-{name}" if saturation < 0.3 else name
