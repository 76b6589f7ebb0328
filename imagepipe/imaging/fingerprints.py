"""Compact fingerprints of a picture: a blurhash placeholder and a 64-bit perceptual hash."""

import numpy as np
from PIL import Image

from imagepipe.imaging.colors import flatten, linear_to_srgb, srgb_to_linear

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_PHASH_SIDE = 32
_PHASH_BITS_SIDE = 8


def blurhash(image, x_components=4, y_components=3):
    """The blurhash (https://blurha.sh) of ``image``, per the reference encoder.

    DCT factors of the linear-light image, the DC as an sRGB triple, each AC component
    quantised to 19 levels after a square-root companding against the largest AC value.
    Transparent areas count as white. Compute it on a thumbnail: the cost is per pixel.
    """
    linear = srgb_to_linear(np.asarray(flatten(image)))
    height, width = linear.shape[:2]
    basis_x = np.cos(np.pi * np.outer(np.arange(x_components), np.arange(width)) / width)
    basis_y = np.cos(np.pi * np.outer(np.arange(y_components), np.arange(height)) / height)
    factors = np.einsum("jy,ix,yxc->jic", basis_y, basis_x, linear).reshape(-1, 3) / (width * height)
    factors[1:] *= 2  # normalisation of AC components
    dc, ac = factors[0], factors[1:]

    parts = [_base83((x_components - 1) + (y_components - 1) * 9, 1)]
    if len(ac):
        quantised_max = int(max(0, min(82, np.floor(np.abs(ac).max() * 166 - 0.5))))
        maximum = (quantised_max + 1) / 166
    else:
        quantised_max, maximum = 0, 1.0
    parts.append(_base83(quantised_max, 1))
    r, g, b = linear_to_srgb(dc)
    parts.append(_base83((int(r) << 16) + (int(g) << 8) + int(b), 4))
    levels = np.floor(np.clip(np.floor(np.sign(ac) * np.sqrt(np.abs(ac / maximum)) * 9 + 9.5), 0, 18))
    parts.extend(_base83(int(red * 19 * 19 + green * 19 + blue), 2) for red, green, blue in levels)
    return "".join(parts)


def phash(image):
    """The 64-bit DCT perceptual hash of ``image`` as 16 hex digits (imagehash's phash).

    A 32x32 greyscale copy goes through a 2-D DCT-II; each of the 8x8 lowest-frequency
    coefficients (the DC term included) gives one bit: above their median or not, row by row,
    most significant bit first. Near-identical pictures differ in few bits.
    """
    grey = flatten(image).convert("L").resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS)
    n = np.arange(_PHASH_SIDE)
    dct = np.cos(np.pi * np.outer(n, 2 * n + 1) / (2 * _PHASH_SIDE))
    low = (dct @ np.asarray(grey, dtype=np.float64) @ dct.T)[:_PHASH_BITS_SIDE, :_PHASH_BITS_SIDE]
    # Rounding drops floating-point noise (~1e-13), which would otherwise decide the bits of
    # flat areas differently from one machine's BLAS to another's.
    low = np.round(low, 6)
    bits = (low > np.median(low)).ravel()
    return f"{int(''.join('1' if bit else '0' for bit in bits), 2):016x}"


def _base83(value, length):
    return "".join(_BASE83[value // 83 ** (length - i) % 83] for i in range(1, length + 1))
