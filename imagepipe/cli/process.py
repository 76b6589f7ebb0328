"""``imagepipe process PATH... [--wait]``: register files, enqueue them, optionally follow them."""

import time
from pathlib import Path

from imagepipe.media import import_source
from models import Image, bind_database, register_image

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
    """Files as given, and the image files inside folders (recursively, hidden ones skipped)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def enqueue(paths, settings):
    """Register each file (copied into MEDIA_ROOT when outside it) and send its ingest message.

    The message is sent only after the row is committed, so a fast worker always finds it.
    """
    from actors import ingest

    ids = []
    for path in paths:
        image = register_image(import_source(settings.media_root, path), path.name)
        ingest.send(image.id)
        ids.append(image.id)
    return ids


def wait_for(image_ids, timeout_s, report=print):
    """Poll until every image is completed or failed; True when all ended before the timeout."""
    deadline = time.monotonic() + timeout_s
    pending = set(image_ids)
    while pending and time.monotonic() < deadline:
        ended = Image.select(Image.id, Image.status).where(
            Image.id.in_(list(pending)), Image.status.in_([Image.COMPLETED, Image.FAILED])
        )
        for image in ended:
            pending.discard(image.id)
            report(f"image {image.id}: {image.status}")
        if pending:
            time.sleep(POLL_INTERVAL_S)
    return not pending


def run(args, settings):
    bind_database(settings.database_url)
    ids = enqueue(expand(args.paths), settings)
    print(f"queued {len(ids)} image(s): {', '.join(map(str, ids))}")
    if not args.wait:
        return 0
    finished = wait_for(ids, args.timeout)
    print(images_table(ids))
    if not finished:
        print(f"imagepipe: still running after {args.timeout:.0f}s (is a worker running?)")
        return 1
    return 0
