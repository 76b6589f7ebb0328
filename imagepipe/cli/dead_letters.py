"""``imagepipe dead-letters list|show|replay|purge``: the messages that failed for good."""

import datetime
import json
import re

from imagepipe.dead_letters import replay as replay_messages
from models import DeadLetter, bind_database, purge_dead_letters

from .table import render_table

NAME = "dead-letters"
HELP = "list, show, replay or purge the messages that failed for good"
DEFAULT_LIMIT = 50
DEFAULT_OLDER_THAN = "30d"
#: Characters of the error that ``list`` shows; ``show`` has all of it.
ERROR_WIDTH = 60
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the latest dead letters, newest first")
    listing.add_argument("--actor", help="only this actor's")
    listing.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"how many (default {DEFAULT_LIMIT})")
    show = actions.add_parser("show", help="one dead letter with its traceback and message")
    show.add_argument("id", type=int, metavar="ID")
    replay = actions.add_parser("replay", help="send the original messages again, with fresh retries")
    replay.add_argument("ids", nargs="*", type=int, metavar="ID", help="dead letters to replay")
    replay.add_argument("--all", action="store_true", help="every dead letter not replayed yet")
    replay.add_argument("--actor", help="only this actor's")
    purge = actions.add_parser("purge", help="delete old dead letters")
    purge.add_argument(
        "--older-than", default=DEFAULT_OLDER_THAN, help=f"age such as 30d, 12h or 90m (default {DEFAULT_OLDER_THAN})"
    )


def parse_duration(text):
    """``"30d"`` -> timedelta(days=30); also s, m, h and w."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text.lower())
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and s, m, h, d or w, such as 30d, 12h or 90m")
    return datetime.timedelta(**{DURATION_UNITS[match[2]]: int(match[1])})


def run(args, settings):
    bind_database(settings.database_url)
    return {"list": list_dead_letters, "show": show, "replay": replay, "purge": purge}[args.action](args)


def list_dead_letters(args):
    query = DeadLetter.select().order_by(DeadLetter.id.desc()).limit(args.limit)
    if args.actor:
        query = query.where(DeadLetter.actor == args.actor)
    rows = [
        [
            dead_letter.id,
            dead_letter.failed_at.strftime(TIME_FORMAT),
            dead_letter.actor,
            "-" if dead_letter.image_id is None else dead_letter.image_id,
            dead_letter.attempts,
            _short(f"{dead_letter.error_type}: {dead_letter.error}"),
            _replayed(dead_letter),
        ]
        for dead_letter in query
    ]
    if not rows:
        print("no dead letters")
        return
    print(render_table(["id", "failed at (UTC)", "actor", "image", "attempts", "error", "replayed"], rows))


def show(args):
    dead_letter = DeadLetter.get_or_none(DeadLetter.id == args.id)
    if dead_letter is None:
        raise ValueError(f"no dead letter with id {args.id}")
    for label, value in [
        ("id", dead_letter.id),
        ("message id", dead_letter.message_id),
        ("actor", dead_letter.actor),
        ("queue", dead_letter.queue),
        ("image", "-" if dead_letter.image_id is None else dead_letter.image_id),
        ("failed at (UTC)", dead_letter.failed_at.strftime(TIME_FORMAT)),
        ("attempts", dead_letter.attempts),
        ("error", f"{dead_letter.error_type}: {dead_letter.error}"),
        ("replayed", _replayed(dead_letter)),
    ]:
        print(f"{label + ':':<17}{value}")
    print(f"\ntraceback:\n{dead_letter.traceback.rstrip()}")
    print(f"\nmessage:\n{json.dumps(json.loads(dead_letter.message), indent=2)}")


def replay(args):
    if bool(args.ids) == args.all:
        raise ValueError("replay takes dead letter ids or --all, one of the two")
    from actors import broker  # declares the broker and the actors that the messages go to

    replayed = replay_messages(args.ids or None, actor=args.actor, broker=broker)
    for dead_letter in replayed:
        image = "" if dead_letter.image_id is None else f" of image {dead_letter.image_id}"
        print(f"replayed dead letter {dead_letter.id}: {dead_letter.actor}{image}")
    if not replayed:
        print("nothing to replay")


def purge(args):
    count = purge_dead_letters(parse_duration(args.older_than))
    print(f"purged {count} dead letter(s) older than {args.older_than}")


def _short(text):
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"


def _replayed(dead_letter):
    if dead_letter.replayed_at is None:
        return "-"
    return f"{dead_letter.replay_count}x, last {dead_letter.replayed_at.strftime(TIME_FORMAT)}"
