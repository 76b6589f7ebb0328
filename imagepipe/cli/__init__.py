"""The ``imagepipe`` command: one sub-command a module, errors as one clear line."""

import argparse
import logging
import sys

import peewee
import redis

from imagepipe.errors import ImagePipeError
from imagepipe.settings import get_settings

from . import demo, migrate, process, similar, status

COMMANDS = (migrate, process, status, similar, demo)


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
    except (ImagePipeError, ValueError, OSError, peewee.DatabaseError, redis.RedisError) as error:
        print(f"imagepipe: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
