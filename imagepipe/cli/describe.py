"""``imagepipe describe --all|ID... [--provider NAME]``: back-fill or redo images' words.

The messages go to the workers, whose rate limiter throttles a remote provider as it does the
pipeline's own describe steps; this command follows the steps' rows and prints progress.
"""

import sys
import time

import peewee

from imagepipe.description.providers import remote_rate_limit
from imagepipe.settings import DESCRIBERS
from models import Description, Image, Step, bind_database, reopen_step

NAME = "describe"
HELP = "write (or rewrite) the words of images for search, through the workers"
STEP = "describe"
POLL_S = 1.0
DEFAULT_TIMEOUT_S = 3600


def add_arguments(parser):
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("image_ids", nargs="*", type=int, default=[], metavar="ID", help="images to describe again")
    which.add_argument("--all", action="store_true", help="every image without words by this provider")
    parser.add_argument("--redo", action="store_true", help="with --all: also images that have words already")
    parser.add_argument("--provider", choices=DESCRIBERS, help="who writes them (default IMAGEPIPE_DESCRIBER)")
    parser.add_argument("--no-wait", action="store_true", help="send the messages and return")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait at most")


def chosen_images(args, provider):
    """The ids to describe: those given, or every image that is not failed or cancelled
    (without words by ``provider`` unless --redo)."""
    if args.image_ids:
        return args.image_ids
    images = Image.select(Image.id).where(Image.status.not_in(Image.GIVEN_UP)).order_by(Image.id)
    if not args.redo:
        described = Description.select(Description.image).where(Description.provider == provider)
        images = images.where(Image.id.not_in(described))
    return [image.id for image in images]


def send(image_ids, provider, redo):
    """Queue each image's describe step again and send its message; the ids sent."""
    from actors import broker

    actor = broker.get_actor("describe")
    options = {} if provider is None else {"rate_limit": remote_rate_limit(provider)}
    kwargs = {"provider": provider, "redo_before": time.time() if redo else None}
    sent = []
    for image_id in image_ids:
        if reopen_step(image_id, STEP):
            actor.send_with_options(args=(image_id,), kwargs=kwargs, **options)
            sent.append(image_id)
        else:
            print(f"image {image_id}: unknown, given up, unchecked or being described: skipped", file=sys.stderr)
    return sent


def follow(image_ids, timeout_s, out):
    """Print "described N of M" as the steps end; True when all ended in time, none failed."""
    shown = None
    deadline = time.monotonic() + timeout_s
    while True:
        counts = dict(
            Step.select(Step.status, peewee.fn.COUNT(Step.id))
            .where(Step.image.in_(image_ids), Step.name == STEP)
            .group_by(Step.status)
            .tuples()
        )
        done, failed = counts.get(Step.DONE, 0), counts.get(Step.FAILED, 0)
        line = f"described {done} of {len(image_ids)}" + (f", {failed} failed" if failed else "")
        if line != shown:
            print(line, file=out, flush=True)
            shown = line
        if done + failed >= len(image_ids):
            return failed == 0
        if time.monotonic() > deadline:
            print(f"timed out after {timeout_s:g} s", file=out)
            return False
        time.sleep(POLL_S)


def run(args, settings):
    if args.redo and not args.all:
        raise ValueError("--redo goes with --all (images given by id are always redone)")
    bind_database(settings.database_url)
    provider = args.provider or settings.describer
    sent = send(chosen_images(args, provider), args.provider, redo=bool(args.image_ids) or args.redo)
    if not sent:
        print("nothing to describe")
        return 0
    if args.no_wait:
        print(f"sent {len(sent)} images to the workers")
        return 0
    return 0 if follow(sent, args.timeout, sys.stdout) else 1
