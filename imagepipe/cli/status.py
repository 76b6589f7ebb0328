"""``imagepipe status [IMAGE_ID] [--json]``: where images stand."""

import json

from models import Image, Variant, bind_database

from .table import images_table

NAME = "status"
HELP = "show the status of one image or of the latest ones"
DEFAULT_LIMIT = 20


def add_arguments(parser):
    parser.add_argument("image_id", nargs="?", type=int, help="one image (default: the latest ones)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="how many of the latest images")
    parser.add_argument("--json", action="store_true", help="one JSON object per image, one per line")


def image_json(image):
    """The machine-readable state of one image, variants included."""
    return {
        **image.state(),
        "source": image.source,
        "variants": [
            {"path": v.path, "format": v.format, "width": v.width, "height": v.height, "bytes": v.bytes}
            for v in image.variants.order_by(Variant.width.desc(), Variant.format)
        ],
    }


def run(args, settings):
    bind_database(settings.database_url)
    query = Image.select().order_by(Image.id.desc())
    if args.image_id is not None:
        query = query.where(Image.id == args.image_id)
        if not query.exists():
            raise ValueError(f"no image with id {args.image_id}")
    images = list(query.limit(args.limit))
    if args.json:
        for image in images:
            print(json.dumps(image_json(image)))
    elif images:
        print(images_table([image.id for image in images]))
    else:
        print("no images yet: try 'imagepipe process PATH'")
