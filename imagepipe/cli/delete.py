"""``imagepipe delete ID...``: remove images, their rows and every object of theirs."""

from imagepipe.removal import delete_image
from models import bind_database

NAME = "delete"
HELP = "delete images: their rows, source and variants (also while they are still processed)"


def add_arguments(parser):
    parser.add_argument("image_ids", nargs="+", type=int, metavar="ID", help="ids of the images to delete")


def run(args, settings):
    bind_database(settings.database_url)
    missing = [image_id for image_id in args.image_ids if not delete_image(image_id)]
    deleted = len(args.image_ids) - len(missing)
    print(f"deleted {deleted} image(s)")
    if missing:
        raise LookupError(f"no image with id {', '.join(map(str, missing))}")
