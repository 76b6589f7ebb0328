"""``imagepipe similar IMAGE_ID -k 5``: the nearest images by their pixel vectors."""

from imagepipe.search import similar
from models import bind_database

from .search import print_hits

NAME = "similar"
HELP = "list the images most similar to one image"


def add_arguments(parser):
    parser.add_argument("image_id", type=int)
    parser.add_argument("-k", type=int, default=5, help="how many neighbours (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image, one per line")


def run(args, settings):
    bind_database(settings.database_url)
    print_hits(similar(args.image_id, args.k, settings), as_json=args.json)
