"""The ``imagepipe`` command: one sub-command a module, errors as one clear line."""

import argparse
import logging
import sys

import dramatiq
import peewee
import redis

from imagepipe.errors import ImagePipeError
from imagepipe.settings import get_settings

from . import (
    cancel,
    check,
    dead_letters,
    delete,
    demo,
    describe,
    events,
    health,
    migrate,
    process,
    purge,
    queues,
    retry,
    search,
    similar,
    status,
    sweep,
    webhooks,
)

#: What a user can cause (bad settings, a service down, a wrong path): one line, no traceback.
#: RuntimeError is what playhouse raises for a DATABASE_URL scheme it does not know.
EXPECTED_ERRORS = (
    ImagePipeError,
    ValueError,
    OSError,
    RuntimeError,
    peewee.PeeweeException,
    redis.RedisError,
    dramatiq.errors.DramatiqError,
    LookupError,
)
COMMANDS = (
    migrate,
    check,
    process,
    status,
    events,
    search,
    similar,
    describe,
    cancel,
    retry,
    delete,
    dead_letters,
    webhooks,
    health,
    queues,
    sweep,
    purge,
    demo,
)


def build_parser():
    parser = argparse.ArgumentParser(prog="imagepipe", description="Background image pipeline on Dramatiq.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args, get_settings()) or 0
    except EXPECTED_ERRORS as error:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        print(f"imagepipe: error: {lines[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
