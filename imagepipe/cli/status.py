"""``imagepipe status [IMAGE_ID] [--json]``: where images stand, and one image's every step."""

import json

from models import Image, Variant, bind_database, step_timeline

from .table import images_table, render_table

NAME = "status"
HELP = "show the status of one image (with each step) or of the latest ones"
DEFAULT_LIMIT = 20
STEP_COLUMNS = ("step", "status", "attempts", "started", "duration", "worker", "error")
ERROR_WIDTH = 60


def add_arguments(parser):
    parser.add_argument("image_id", nargs="?", type=int, help="one image (default: the latest ones)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="how many of the latest images")
    parser.add_argument("--json", action="store_true", help="one JSON object per image, one per line")


def image_json(image, *, steps=False):
    """The machine-readable state of one image, variants included, and with ``steps`` its
    step timeline (models.timeline), as ``GET /images/{id}`` has it."""
    return {
        **image.state(),
        "source": image.source,
        "variants": [
            {"path": v.path, "format": v.format, "width": v.width, "height": v.height, "bytes": v.bytes}
            for v in image.variants.order_by(Variant.width.desc(), Variant.format)
        ],
        **(step_timeline(image.id) if steps else {}),
    }


def steps_table(timeline):
    """The steps of one image as a table, and its last progress under it."""
    rows = [
        [
            step["name"],
            step["status"],
            step["attempts"],
            step["started_at"] or "-",
            "-" if step["duration_ms"] is None else f"{step['duration_ms'] / 1000:.2f}s",
            step["worker"] or "-",
            (step["error"] or "")[:ERROR_WIDTH],
        ]
        for step in timeline["steps"]
    ]
    table = render_table(STEP_COLUMNS, rows)
    progress = timeline["progress"]
    if progress:
        note = f" {progress['note']}" if progress["note"] else ""
        table += f"\nlast progress: {progress['step']} {progress['percent']:g}%{note} at {progress['at']}"
    return table


def run(args, settings):
    bind_database(settings.database_url)
    query = Image.select().order_by(Image.id.desc())
    if args.image_id is not None:
        query = query.where(Image.id == args.image_id)
        if not query.exists():
            raise ValueError(f"no image with id {args.image_id}")
    images = list(query.limit(args.limit))
    one = args.image_id is not None
    if args.json:
        for image in images:
            print(json.dumps(image_json(image, steps=one)))
    elif one:
        print(images_table([args.image_id]))
        print()
        print(steps_table(step_timeline(args.image_id)))
    elif images:
        print(images_table([image.id for image in images]))
    else:
        print("no images yet: try 'imagepipe process PATH'")
