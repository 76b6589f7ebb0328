"""``imagepipe retry ID...``: send cancelled images through the pipeline again."""

from imagepipe.cancellation import retry
from models import bind_database

from .cancel import report

NAME = "retry"
HELP = "send cancelled images again, from the steps they had not done"


def add_arguments(parser):
    parser.add_argument("image_ids", nargs="+", type=int, metavar="ID", help="ids of cancelled images")


def run(args, settings):
    from actors import broker  # declares the actors on the configured broker

    bind_database(settings.database_url)
    return report([retry(image_id, broker) for image_id in args.image_ids], "sent again")
