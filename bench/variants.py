"""Decode + resize CPU for a 24 MP JPEG: imagepipe's draft + cascade against a naive version.

Naive: full-resolution decode, orientation applied, then three `resize` calls from the
original (one per width). imagepipe: `load_upright` (JPEG draft decoding to the smallest
scale that still covers 1920 px) and `render`'s cascade, encoders excluded: both sides
stop at the resized pixels, so the figure is about decode + resize only.
"""

import argparse
import tempfile

from common import measured, photo_file, print_table
from PIL import Image, ImageOps

from imagepipe.imaging.opening import load_upright
from imagepipe.imaging.variants import plan_widths, resize_cascade

WIDTHS = (640, 1024, 1920)
LIMITS = {"max_pixels": 60_000_000, "max_file_bytes": 200 * 1024 * 1024}


def naive(path):
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image.convert("RGB"))
        return [image.resize((w, round(image.height * w / image.width)), Image.Resampling.LANCZOS) for w in WIDTHS]


def imagepipe(path):
    image = load_upright(path, max_width=max(WIDTHS), **LIMITS)
    return resize_cascade(image, plan_widths(image.width, WIDTHS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--megapixels", type=float, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = photo_file(folder, args.megapixels, seed=11)
        rows, figures = [], {}
        for name, function in (("naive", naive), ("imagepipe", imagepipe)):
            function(path)  # warm the page cache and Pillow's plugin imports
            with measured() as cost:
                for _ in range(args.repeat):
                    function(path)
            figures[name] = cost["cpu"] / args.repeat
            rows.append([name, round(figures[name] * 1000), round(cost["wall"] / args.repeat * 1000)])
        rows.append(["ratio naive/imagepipe", round(figures["naive"] / figures["imagepipe"], 2), ""])
    print_table(
        f"Decode + resize of a {args.megapixels:g} MP JPEG to {WIDTHS} (mean of {args.repeat})",
        ["method", "CPU ms", "wall ms"],
        rows,
    )
    return figures["naive"] / figures["imagepipe"]


if __name__ == "__main__":
    main()
