"""Finding the steps whose message was lost: the database is the source of truth.

A step is *stuck* when its image is still open, the step is ``queued`` or ``processing``, its
prerequisite is done, and nothing has happened to it for longer than a deadline. A queued
step whose prerequisite is not done yet is not stuck: it is waiting, and its message will be
sent by the prerequisite's actor.
"""

import datetime

import peewee

from .image import Image, Step

#: The step that must be done before each step's message is sent (actors/pipeline.py sends it);
#: a step not listed needs nothing (ingest, and test-only steps).
PREREQUISITES = {"variants": "ingest", "metadata": "ingest", "embed": "metadata"}


def stuck_steps(now, deadline_s):
    """The stuck steps as Step rows (image id in ``image_id``), oldest first, in one query.

    The last activity of a step is its ``started_at`` (set when an attempt starts, and when
    the sweeper re-sends it), else the moment its prerequisite finished (when its message was
    sent), else the image's ``created_at`` (ingest's message is sent right after that).
    """
    cutoff = now - datetime.timedelta(seconds=deadline_s)
    prerequisite = Step.alias()
    needs = peewee.Case(Step.name, list(PREREQUISITES.items()), None)
    last_activity = peewee.fn.COALESCE(Step.started_at, prerequisite.finished_at, Image.created_at)
    return list(
        Step.select(Step)
        .join(Image, on=(Step.image == Image.id))
        .join(
            prerequisite,
            peewee.JOIN.LEFT_OUTER,
            on=((prerequisite.image == Step.image) & (prerequisite.name == needs)),
        )
        .where(
            Image.status.not_in([Image.COMPLETED, Image.FAILED]),
            Step.status.in_([Step.QUEUED, Step.PROCESSING]),
            Step.name.not_in(list(PREREQUISITES)) | (prerequisite.status == Step.DONE),
            last_activity < cutoff,
        )
        .order_by(last_activity, Step.id)
    )


def touch_step(step, now):
    """Mark a stuck step as just re-sent, unless it moved since it was read; True when this call
    claimed it (so two sweepers racing on one step send it once)."""
    unchanged = Step.started_at.is_null() if step.started_at is None else Step.started_at == step.started_at
    return bool(Step.update(started_at=now).where(Step.id == step.id, Step.status == step.status, unchanged).execute())
