"""Encoder settings chosen by measurement: CPU, bytes and SSIM of candidate WebP/AVIF settings.

Each candidate encodes the same 1920/1024/640 px resizes of real camera photos (the corpus)
and synthetic ones; SSIM is computed on luma against the unencoded resize.
"""

import argparse
import io
import tempfile

import numpy as np
from common import CORPUS, measured, photo_file, print_table
from PIL import Image

from imagepipe.imaging.opening import load_upright
from imagepipe.imaging.variants import plan_widths, resize_cascade

WIDTHS = (640, 1024, 1920)
LIMITS = {"max_pixels": 60_000_000, "max_file_bytes": 200 * 1024 * 1024}
CANDIDATES = [
    ("webp", {"quality": 75, "method": 4}),
    ("webp", {"quality": 80, "method": 4}),
    ("webp", {"quality": 80, "method": 6}),
    ("webp", {"quality": 85, "method": 4}),
    ("avif", {"quality": 50, "speed": 8}),
    ("avif", {"quality": 60, "speed": 6}),
    ("avif", {"quality": 60, "speed": 8}),
    ("avif", {"quality": 60, "speed": 9}),
    ("avif", {"quality": 60, "speed": 10}),
    ("avif", {"quality": 65, "speed": 10}),
    ("avif", {"quality": 70, "speed": 8}),
]


def ssim(a, b):
    """Mean SSIM of two same-size images on luma, with 8x8 box windows (Wang et al. constants)."""
    x = np.asarray(a.convert("L"), dtype=np.float64)
    y = np.asarray(b.convert("L"), dtype=np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def box(values, size=8):
        integral = np.pad(values, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        total = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
        return total / size**2

    mx, my = box(x), box(y)
    vx, vy, cov = box(x * x) - mx * mx, box(y * y) - my * my, box(x * y) - mx * my
    return float((((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def resizes(paths):
    for path in paths:
        image = load_upright(path, max_width=max(WIDTHS), **LIMITS)
        yield from resize_cascade(image, plan_widths(image.width, WIDTHS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        camera = sorted(p for p in (CORPUS / "camera").glob("*.jpg") if p.stat().st_size > 100_000)
        paths = camera[:3] + [photo_file(folder, 12, seed=s) for s in (1, 2)]
        images = list(resizes(paths))
    rows = []
    for fmt, options in CANDIDATES:
        encode_options = dict(options, max_threads=1) if fmt == "avif" else options
        total_bytes, scores = 0, []
        with measured() as cost:
            outputs = []
            for image in images:
                buffer = io.BytesIO()
                image.save(buffer, fmt.upper(), **encode_options)
                outputs.append(buffer.getvalue())
        for image, data in zip(images, outputs, strict=True):
            total_bytes += len(data)
            with Image.open(io.BytesIO(data)) as decoded:
                scores.append(ssim(image, decoded))
        label = ", ".join(f"{k} {v}" for k, v in options.items())
        rows.append(
            [
                fmt,
                label,
                round(cost["cpu"] * 1000 / len(paths)),
                round(total_bytes / len(paths) / 1024, 1),
                round(float(np.mean(scores)), 4),
            ]
        )
    print_table(
        f"Encoding one variant set (3 widths) per photo, mean over {len(paths)} photos",
        ["format", "settings", "CPU ms", "KB", "SSIM"],
        rows,
    )
    return rows


if __name__ == "__main__":
    main()
