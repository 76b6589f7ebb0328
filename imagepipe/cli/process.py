"""``imagepipe process PATH... [--wait]``: register files, enqueue them, optionally follow them."""

import contextlib
import sys
import time
from pathlib import Path

import peewee
import redis

from imagepipe.event_stream import newest_id
from imagepipe.storage import LocalStorage, get_storage
from imagepipe.storage.keys import VARIANTS_DIR
from imagepipe.submission import enqueue as enqueue_source
from imagepipe.submission import store_source
from models import Image, bind_database

from .follow import ended_images, follow_images
from .table import images_table

NAME = "process"
HELP = "register image files or folders and queue them for the pipeline"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".avif", ".heic", ".heif"}
DEFAULT_WAIT_TIMEOUT_S = 600
POLL_INTERVAL_S = 0.2


def add_arguments(parser):
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders to search for images")
    parser.add_argument("--wait", action="store_true", help="follow the images to the end and print a table")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_WAIT_TIMEOUT_S, help="seconds --wait waits at most (default 600)"
    )


def expand(paths):
    """Files as given, and the image files inside folders (recursively; hidden files and the
    pipeline's own variants in local storage skipped)."""
    storage = get_storage()
    variants = storage.path(VARIANTS_DIR) if isinstance(storage, LocalStorage) else None
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not p.name.startswith(".")
                and not (variants and p.resolve().is_relative_to(variants))
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def enqueue(paths):
    """Store each file (used in place when it already lies in local storage), register it and
    send its ingest message; the new images' ids."""
    ids = []
    for path in paths:
        key, stored = store_source(path)
        ids.append(enqueue_source(key, path.name, stored=stored).id)
    return ids


def process_and_follow(paths, settings, *, timeout_s, alive=None, out=sys.stdout):
    """Queue ``paths`` and follow them through their events; (image ids, all ended in time)."""
    with contextlib.closing(redis.Redis.from_url(settings.events_redis_url)) as events:
        # Taken before enqueueing, so that reading after it misses none of these images' events.
        since = newest_id(events, settings.events_stream)
        ids = enqueue(paths)
        print(f"queued {len(ids)} image(s): {', '.join(map(str, ids))}", file=out, flush=True)
        finished = follow_images(
            ids, events, stream=settings.events_stream, since=since, timeout_s=timeout_s, out=out, alive=alive
        )
    return ids, finished


def outcome(image_ids, finished, timeout_s):
    """Print the table and say what went wrong; the exit code: 0 only when all completed."""
    print(images_table(image_ids))
    if not finished:
        print(f"imagepipe: not all images ended within {timeout_s:.0f}s (is a worker running?)", file=sys.stderr)
        return 1
    given_up = dict(
        Image.select(Image.status, peewee.fn.COUNT(Image.id))
        .where(Image.id.in_(image_ids), Image.status.in_(Image.GIVEN_UP))
        .group_by(Image.status)
        .tuples()
    )
    for status, count in sorted(given_up.items()):
        print(f"imagepipe: {count} of {len(image_ids)} image(s) {status}", file=sys.stderr)
    return 1 if given_up else 0


def wait_for(image_ids, timeout_s, report=print):
    """Poll the database until every image has ended; True when all ended in time.

    For tests and benchmarks, which need no display; ``process --wait`` follows the events.
    """
    deadline = time.monotonic() + timeout_s
    pending = set(image_ids)
    while pending and time.monotonic() < deadline:
        for image_id, (status, _) in ended_images(pending).items():
            pending.discard(image_id)
            report(f"image {image_id}: {status}")
        if pending:
            time.sleep(POLL_INTERVAL_S)
    return not pending


def run(args, settings):
    bind_database(settings.database_url)
    paths = expand(args.paths)
    if not args.wait:
        ids = enqueue(paths)
        print(f"queued {len(ids)} image(s): {', '.join(map(str, ids))}")
        return 0
    ids, finished = process_and_follow(paths, settings, timeout_s=args.timeout)
    return outcome(ids, finished, args.timeout)
