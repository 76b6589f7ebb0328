"""Finding the steps whose message was lost: the database is the source of truth.

A step is *stuck* when its image is still open, the step is ``queued`` or ``processing``, all
its prerequisites (imagepipe.graph) are done, and nothing has happened to it for longer than
a deadline. A queued step whose prerequisites are not all done yet is not stuck: it is
waiting, and its message will be sent when the last of them finishes (StepTracking).
"""

import datetime
import functools
import operator

import peewee

from imagepipe.graph import PIPELINE

from .image import Image, Step


def stuck_steps(now, deadline_s, graph=PIPELINE):
    """The stuck steps as Step rows (image id in ``image_id``), oldest first, in one query.

    The last activity of a step is its ``started_at`` (set when an attempt starts, and when
    the sweeper re-sends it), else the moment the last of its prerequisites finished (when its
    message was sent), else the image's ``created_at`` (its first steps are sent right after).
    A step whose prerequisites are not all done is waiting, not stuck.
    """
    cutoff = now - datetime.timedelta(seconds=deadline_s)
    waits = {step.name: step.after for step in graph if step.after}
    conditions = [
        (Step.name == name)
        & ~peewee.fn.EXISTS(_pending(after))
        & (peewee.fn.COALESCE(Step.started_at, _last_finished(after), Image.created_at) < cutoff)
        for name, after in waits.items()
    ]
    conditions.append(Step.name.not_in(list(waits)) & (peewee.fn.COALESCE(Step.started_at, Image.created_at) < cutoff))
    return list(
        Step.select(Step)
        .join(Image, on=(Step.image == Image.id))
        .where(
            Image.status.not_in(Image.ENDED),
            Step.status.in_([Step.QUEUED, Step.PROCESSING]),
            functools.reduce(operator.or_, conditions),
        )
        .order_by(peewee.fn.COALESCE(Step.started_at, Image.created_at), Step.id)
    )


def _pending(after):
    """The steps of ``after`` of the outer query's image that are not done."""
    before = Step.alias()
    return before.select(before.id).where(
        before.image == Step.image, before.name.in_(list(after)), before.status != Step.DONE
    )


def _last_finished(after):
    """When the last of the steps ``after`` of the outer query's image finished."""
    before = Step.alias()
    return before.select(peewee.fn.MAX(before.finished_at)).where(
        before.image == Step.image, before.name.in_(list(after))
    )


def touch_step(step, now):
    """Mark a stuck step as just re-sent, unless it moved since it was read; True when this call
    claimed it (so two sweepers racing on one step send it once)."""
    unchanged = Step.started_at.is_null() if step.started_at is None else Step.started_at == step.started_at
    return bool(Step.update(started_at=now).where(Step.id == step.id, Step.status == step.status, unchanged).execute())
