"""Synthetic photos for the demo, the tests and the benchmarks: made here, so nothing is downloaded."""

from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112
#: Film grain strength (Pillow's effect_noise sigma): enough texture that JPEG sizes look real.
GRAIN_SIGMA = 18


def make_photo(width, height, seed=0):
    """A photo-like RGB image: smooth colour fields and shapes with film grain.

    Drawn at 1/8 scale with numpy and enlarged, so a 48 MP picture takes a second, not a minute.
    """
    rng = np.random.default_rng(seed)
    small_w, small_h = max(8, width // 8), max(8, height // 8)
    y, x = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    x /= small_w
    y /= small_h
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, np.pi)
        channels.append(0.5 + 0.35 * np.sin(2 * np.pi * (fx * x + phase)) * np.cos(2 * np.pi * fy * y))
    pixels = np.stack(channels, axis=-1)
    for _ in range(6):  # a few soft discs, so the picture has objects and edges
        cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        disc = ((x - cx) ** 2 + (y - cy) ** 2) < radius**2
        pixels[disc] = rng.uniform(0, 1, size=3)
    base = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")
    base = base.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), GRAIN_SIGMA).convert("RGB")
    return Image.blend(base, grain, 0.12)


def save_jpeg(image, path, *, orientation=None, quality=90):
    """Save as JPEG, optionally tagging an EXIF orientation."""
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION_TAG] = orientation
    image.save(path, "JPEG", quality=quality, exif=exif.tobytes())
    return Path(path)


def write_demo_set(folder):
    """The demo's photos: ordinary, EXIF-rotated, transparent PNG, small, and a 24 MP JPEG."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        save_jpeg(make_photo(2400, 1600, seed=1), folder / "landscape.jpg"),
        # Stored sideways with orientation 6, as phones do: it must come out upright, 1200 wide.
        save_jpeg(make_photo(1800, 1200, seed=2), folder / "phone-rotated.jpg", orientation=6),
        save_jpeg(make_photo(480, 320, seed=3), folder / "small.jpg"),
        save_jpeg(make_photo(6000, 4000, seed=4), folder / "camera-24mp.jpg"),
    ]
    logo = make_photo(1200, 800, seed=5).convert("RGBA")
    alpha = Image.new("L", logo.size, 0)
    alpha.paste(255, (150, 100, 1050, 700))
    logo.putalpha(alpha)
    logo.save(folder / "transparent.png")
    paths.append(folder / "transparent.png")
    return paths
