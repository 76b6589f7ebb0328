"""``imagepipe search "beach at sunset" [-k 20] [--json]``: the images that match, best first."""

import json

from imagepipe.search import hit_rows, search
from models import bind_database

from .table import render_table

NAME = "search"
HELP = "find images by what they show: their words, text in them, places"
DEFAULT_K = 20
#: How much of an image's description a table row shows.
DESCRIPTION_WIDTH = 60


def add_arguments(parser):
    parser.add_argument("query", help='words to look for, e.g. "beach at sunset" or "ACME receipt"')
    parser.add_argument("-k", type=int, default=DEFAULT_K, help=f"how many images at most (default {DEFAULT_K})")
    parser.add_argument("--json", action="store_true", help="one JSON object per image, one per line")


def print_hits(hits, *, as_json):
    rows = hit_rows(hits)
    if as_json:
        for row in rows:
            print(json.dumps(row))
    elif rows:
        table = [[r["id"], r["score"], r["name"], r["description"][:DESCRIPTION_WIDTH]] for r in rows]
        print(render_table(["id", "score", "name", "description"], table))
    else:
        print("no images found")


def run(args, settings):
    bind_database(settings.database_url)
    print_hits(search(args.query, args.k), as_json=args.json)
