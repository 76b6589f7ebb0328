"""Putting an image into the pipeline from an app: store its bytes, register it, send ingest.

``imagepipe.submit`` and ``imagepipe.wait`` are these functions; the CLI and the web app's
uploads use the same steps, so every way in stores, commits and sends in the same order.
"""

import contextlib
import io
import logging
import os
import time
from pathlib import Path

import redis

from imagepipe.event_stream import TERMINAL_EVENTS, newest_id, read_events
from imagepipe.graph import PIPELINE
from imagepipe.settings import get_settings
from imagepipe.storage import content_type, get_storage, source_key
from models import Image, register_image

logger = logging.getLogger(__name__)

DEFAULT_WAIT_TIMEOUT_S = 600
#: How long ``wait`` trusts the events alone before it asks the database too.
_CHECK_EVERY_S = 5.0
_POLL_S = 0.2


def store_source(source, name=None):
    """Store ``source`` (a path, bytes or a binary file object) as a new source object.

    Returns ``(key, stored)``: ``stored`` is False when the file already lay in local storage
    and is used where it is. The name (or the path's) becomes the key's last part.
    """
    storage = get_storage()
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        key = storage.key_of(path)
        if key is not None:
            return key, False
        key = source_key(name or path.name)
        with open(path, "rb") as body:
            storage.put(key, body, content_type=_type_of(key))
        return key, True
    key = source_key(name or getattr(source, "name", None) or "upload")
    body = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    storage.put(key, body, content_type=_type_of(key))
    return key, True


def enqueue(key, name, *, stored=True):
    """Register an image for the stored object ``key``, commit, then send its first steps' messages.

    The message is sent only after the row is committed, so a fast worker always finds it; if
    the send fails, the row (and the object, when ``stored`` by us) is taken back, since
    nothing would ever process it.
    """
    from actors import broker

    image = register_image(key, name)
    try:
        for step in PIPELINE.first:
            broker.get_actor(step.actor).send(image.id)
    except Exception:
        image.delete_instance(recursive=True)
        if stored:
            with contextlib.suppress(Exception):
                get_storage().delete([key])
        raise
    return image


def submit(source, *, name=None):
    """Store ``source`` (a path, bytes or a binary file object), register it and queue it.

    Returns the new ``Image`` row (status ``queued``); the caller's database must be bound
    (``models.bind_database``). ``name`` is the original file name shown to people.
    """
    key, stored = store_source(source, name)
    display = name or (Path(source).name if isinstance(source, str | os.PathLike) else key.rsplit("/", 1)[-1])
    return enqueue(key, display, stored=stored)


def wait(image_id, timeout=DEFAULT_WAIT_TIMEOUT_S):
    """Block until the image is completed or failed and return its row; TimeoutError if not
    by ``timeout`` seconds.

    Follows the events stream (no polling while events flow) and asks the database every few
    seconds too, so lost events, or an events Redis that is down, only make it slower.
    """
    settings = get_settings()
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(settings.events_redis_url, socket_timeout=_CHECK_EVERY_S + 5)
    with contextlib.closing(client):
        try:
            since = newest_id(client, settings.events_stream)
        except redis.RedisError as exc:
            logger.warning("events unavailable (%s); polling the database", type(exc).__name__)
            client = since = None
        while (image := _ended(image_id)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"image {image_id} did not end within {timeout:g} s")
            if client is None:
                time.sleep(min(_POLL_S, remaining))
                continue
            window = min(_CHECK_EVERY_S, remaining)
            try:
                events = read_events(
                    client, stream=settings.events_stream, last_id=since, image_ids=[image_id], timeout_s=window
                )
                for event_id, event in events:
                    since = event_id  # the next window resumes after it
                    if event["type"] in TERMINAL_EVENTS:
                        break
            except redis.RedisError as exc:
                logger.warning("events unavailable (%s); polling the database", type(exc).__name__)
                client = None
    return image


def _ended(image_id):
    image = Image.get_or_none(Image.id == image_id)
    if image is None:
        raise LookupError(f"no image with id {image_id}")
    return image if image.status in Image.ENDED else None


def _type_of(key):
    return content_type(key) or "application/octet-stream"
