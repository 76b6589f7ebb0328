"""CPU cost of the local describe per 12 MP image, each part apart, as a ratio to make_variants.

Both run in this process on the same 12 MP JPEGs in the same run: a camera-like photo and the
same photo with text drawn on it (OCR's cost grows with the text it finds), both carrying a GPS
position (Arezzo) so that "places" has a lookup to do. make_variants is
``render_file`` with the settings' widths, formats and encoder options, as the actor calls it.
Each figure is the median CPU seconds of ``--repeat`` runs after one warm-up; loading each
part's model (the first call in a fresh child process) is measured apart.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from common import measured, photo_file, print_table
from PIL import ExifTags, Image, ImageDraw, ImageFont

from imagepipe import imaging
from imagepipe.description import faces, local, ocr, places
from imagepipe.settings import get_settings

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = (("ACME Receipt", 200), ("Total 42.50 EUR", 120), ("Harbour Street 7", 80), ("small print here", 50))


def bench_photo(folder, megapixels, *, text):
    """The 12 MP photo with a GPS position and, with ``text``, four lines of text (200 down to
    50 px high, on white boxes)."""
    path = Path(folder) / f"bench-{megapixels}mp-{'text' if text else 'plain'}.jpg"
    with Image.open(photo_file(folder, megapixels, seed=7)) as image:
        picture = image.convert("RGB")
    if text:
        _draw_lines(ImageDraw.Draw(picture))
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (43.0, 28.0, 2.8), 3: "E", 4: (11.0, 53.0, 6.4)})
    picture.save(path, quality=90, exif=exif)
    return path


def _draw_lines(draw):
    top = 200
    for text, size in LINES:
        font = ImageFont.truetype(FONT, size)
        left, upper, right, lower = draw.textbbox((200, top), text, font=font)
        draw.rectangle((left - 20, upper - 20, right + 20, lower + 20), fill="white")
        draw.text((200, top), text, font=font, fill="black")
        top = lower + 120


def median_cpu(function, repeat):
    function()  # warm-up: page cache, plugins, models
    runs = []
    for _ in range(repeat):
        with measured() as cost:
            function()
        runs.append(cost["cpu"])
    return statistics.median(runs)


def load_times():
    """CPU seconds to load each part's model, the first time in this process."""
    loads = {}
    for part, load in (
        ("places", lambda: places.place_of(43.47, 11.88)),
        ("faces", faces.load),
        ("ocr", ocr.load),
    ):
        if part in local.available_parts():
            with measured() as cost:
                load()
            loads[part] = cost["cpu"]
    return loads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--megapixels", type=float, default=12)
    args = parser.parse_args()
    settings = get_settings()
    limits = {"max_pixels": settings.max_pixels, "max_file_bytes": settings.max_file_bytes}
    options = imaging.EncoderOptions.from_settings(settings)
    parts = local.available_parts()
    loads = load_times()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        images = {
            "photo": bench_photo(folder, args.megapixels, text=False),
            "photo + text": bench_photo(folder, args.megapixels, text=True),
        }
        for label, path in images.items():
            variants = median_cpu(
                lambda path=path: imaging.render_file(
                    path, settings.variant_widths, settings.variant_formats, options, **limits
                ),
                args.repeat,
            )
            rows.append([label, "make_variants", f"{variants:.2f}", "1.00"])
            for chosen in [(part,) for part in parts] + [parts]:
                cpu = median_cpu(
                    lambda path=path, chosen=chosen: local.describe_locally(path, parts=chosen, **limits), args.repeat
                )
                name = "all: " + "+".join(chosen) if len(chosen) > 1 else chosen[0]
                rows.append([label, name, f"{cpu:.2f}", f"{cpu / variants:.2f}"])
        found = local.describe_locally(images["photo + text"], parts=parts, **limits)
    print_table(
        f"Local describe of a {args.megapixels:g} MP JPEG, CPU s per image (median of {args.repeat})",
        ["image", "part", "CPU s", "ratio to make_variants"],
        rows,
    )
    print_table("Model load, once per child process", ["part", "CPU s"], [[p, f"{s:.2f}"] for p, s in loads.items()])
    print(f"\nOCR read on the text photo: {found.ocr_text.splitlines()}; place: {found.place}")
    return rows


if __name__ == "__main__":
    main()
