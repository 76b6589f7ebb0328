"""``imagepipe sweep``: re-send the messages of steps stuck in queued or processing."""

from imagepipe.sweep import sweep
from models import bind_database

NAME = "sweep"
HELP = "re-send the steps stuck in queued or processing (the workers also do this every minute)"


def add_arguments(parser):
    parser.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help="a step is stuck after this many seconds without activity (default IMAGEPIPE_SWEEP_DEADLINE_S, 600)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only list the stuck steps; send nothing")


def run(args, settings):
    deadline_s = settings.sweep_deadline_s if args.deadline is None else args.deadline
    if deadline_s <= 0:
        raise ValueError(f"--deadline must be a positive number of seconds, not {deadline_s:g}")
    bind_database(settings.database_url)
    from actors import broker  # declares the broker and the actors that the messages go to

    resent = sweep(deadline_s, send=not args.dry_run, broker=broker)
    verb = "re-sent" if not args.dry_run else "would re-send"
    for step in resent:
        print(f"{verb} {step.step} of image {step.image_id} ({step.status}) to {step.actor}")
    if not resent:
        print(f"no step stuck for more than {deadline_s:g} s")
