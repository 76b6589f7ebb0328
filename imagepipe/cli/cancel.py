"""``imagepipe cancel ID...``: stop images; their pending steps will not run."""

import sys

from imagepipe.cancellation import cancel
from models import bind_database

NAME = "cancel"
HELP = "cancel images: pending steps are skipped, a running one stops at its next progress call"


def add_arguments(parser):
    parser.add_argument("image_ids", nargs="+", type=int, metavar="ID", help="ids of the images to cancel")


def run(args, settings):
    bind_database(settings.database_url)
    return report([cancel(image_id, settings) for image_id in args.image_ids], "cancelled")


def report(outcomes, verb):
    """Print what was done and why the rest was not; the exit code: 1 when any was not."""
    done = [outcome.image_id for outcome in outcomes if outcome.done]
    print(f"{verb} {len(done)} image(s)" + (f": {', '.join(map(str, done))}" if done else ""))
    refused = [outcome for outcome in outcomes if not outcome.done]
    for outcome in refused:
        print(f"imagepipe: {outcome.reason}", file=sys.stderr)
    return 1 if refused else 0
