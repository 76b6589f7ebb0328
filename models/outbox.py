"""Terminal events waiting in the database until they are in the events stream.

``image-completed`` and ``image-failed`` are what a web app waits for. Each is written here in
the transaction that makes its image's move, so a process killed before publishing it loses
nothing: whichever process drains the row next publishes it (imagepipe.durable_events).
"""

import datetime

import peewee

from .image import BaseModel, utcnow


class PendingEvent(BaseModel):
    """One encoded event (imagepipe.event_stream) not known to be in the stream yet."""

    created_at = peewee.DateTimeField(default=utcnow, index=True)
    payload = peewee.TextField()


def pending_events(older_than_s=0, limit=500):
    """``(id, payload)`` of the waiting events written at least ``older_than_s`` ago, oldest first."""
    cutoff = utcnow() - datetime.timedelta(seconds=older_than_s)
    query = PendingEvent.select(PendingEvent.id, PendingEvent.payload).where(PendingEvent.created_at <= cutoff)
    return list(query.order_by(PendingEvent.id).limit(limit).tuples())


def forget_events(ids):
    """Drop the rows of events now in the stream."""
    if ids:
        PendingEvent.delete().where(PendingEvent.id.in_(list(ids))).execute()
