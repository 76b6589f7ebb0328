"""Cancelling images and sending cancelled ones again: ``imagepipe cancel|retry``, the web API.

A cancel is one transaction (models.lifecycle.cancel_image) that keeps the ``image-cancelled``
event in the outbox; it is published right after, and should Redis be away, by the workers'
drain (imagepipe.durable_events), so a follower hears of it either way.
"""

from dataclasses import dataclass

from imagepipe.durable_events import DurableEvents
from imagepipe.event_stream import encode, new_event
from imagepipe.graph import PIPELINE
from models import Image, cancel_image, retry_image


@dataclass(frozen=True)
class Outcome:
    """What a cancel or a retry did to one image: ``done``, else why not in ``reason`` (and
    whether the image exists at all: a 404 rather than a 409)."""

    image_id: int
    done: bool
    reason: str | None = None
    exists: bool = True


def cancel(image_id, settings):
    """Cancel one image that has not ended and publish its ``image-cancelled``."""
    kept = cancel_image(image_id, event=encode(new_event("image-cancelled", image_id=image_id)))
    if not kept.cancelled:
        return _refused(image_id, "has ended: nothing to cancel")
    events = DurableEvents(
        redis_url=settings.events_redis_url,
        stream=settings.events_stream,
        maxlen=settings.events_maxlen,
        timeout_ms=settings.events_timeout_ms,
    )
    events.publish(kept.event)  # on failure its row waits for a worker's drain
    return Outcome(image_id, True)


def retry(image_id, broker, graph=PIPELINE):
    """Send a cancelled image's steps again, from where it stopped. A failed image is sent
    again by replaying its dead letter, once what failed it is fixed."""
    ready = retry_image(image_id, graph)
    if ready is None:
        return _refused(image_id, "is not cancelled: nothing to retry")
    for name in ready:
        broker.get_actor(graph[name].actor).send(image_id)
    return Outcome(image_id, True)


def _refused(image_id, why):
    if not Image.select().where(Image.id == image_id).exists():
        return Outcome(image_id, False, f"no image with id {image_id}", exists=False)
    return Outcome(image_id, False, f"image {image_id} {why}")
