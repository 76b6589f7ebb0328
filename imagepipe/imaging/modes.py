"""Bring any decoded pixel mode down to 8-bit L, RGB or RGBA, keeping transparency.

The encoders and the colour code downstream only handle 8-bit modes. High-bit-depth grey
(16-bit PNG/TIFF, 32-bit int or float TIFF) cannot simply be clipped: a 12-bit sensor image
stored in 16 bits would come out black, a 16-bit one with values above 255 pure white.
CMYK and LAB are left alone here; colorspace.py converts them with colour management.
"""

import numpy as np
from PIL import Image

_HIGH_BIT_GREY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": None, "F": None}
_ALPHA_MODES = {"LA": "RGBA", "La": "RGBA", "PA": "RGBA", "RGBa": "RGBA"}
_KEPT = {"L", "RGB", "RGBA", "CMYK", "LAB"}


def to_8bit(image):
    """``image`` in L, RGB or RGBA (or CMYK/LAB, untouched), with any transparency as alpha."""
    transparency = image.info.get("transparency")
    if image.mode in _HIGH_BIT_GREY:
        return _grey_to_8bit(image, transparency)
    if image.mode in ("1", "L", "P", "RGB") and transparency is not None:
        return image.convert("RGBA")
    if image.mode == "P":
        return image.convert("RGBA" if image.palette.mode == "RGBA" else "RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode in _ALPHA_MODES:
        return image.convert(_ALPHA_MODES[image.mode])
    if image.mode in _KEPT:
        return image
    return image.convert("RGB")


def _grey_to_8bit(image, transparency):
    """Scale high-bit-depth grey to 8 bits, as RGBA when one grey value is transparent.

    Data that uses most of its container (a real 16-bit photo, floats in 0..1) is scaled by
    the container's range, keeping its tones. Anything else (12 bits in 16, scientific data
    using a few hundred levels) is stretched from its darkest to its brightest value, as
    image viewers do, so it neither disappears into black nor clips to white.
    """
    values = np.nan_to_num(np.asarray(image, dtype=np.float64))
    low, high = float(values.min()), float(values.max())
    full = _HIGH_BIT_GREY[image.mode]
    if full is None and low >= 0:
        full = 1.0 if image.mode == "F" and high <= 1 else 65535 if high <= 65535 else None
    if full is not None and high > full / 2:
        low = 0.0
    elif high > low:
        full = high - low
    else:
        low, full = 0.0, full or max(high, 1.0)
    grey = Image.fromarray(np.clip(np.rint((values - low) * (255 / full)), 0, 255).astype(np.uint8))
    if transparency is None:
        return grey
    alpha = Image.fromarray(np.where(np.asarray(image) == transparency, 0, 255).astype(np.uint8))
    return Image.merge("RGBA", (grey, grey, grey, alpha))
