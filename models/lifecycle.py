"""Status transitions of an image and its steps, safe under redelivery and concurrency.

Every transition is one conditional UPDATE, so when two processes race (or a message is
delivered twice) exactly one of them moves the image to ``completed`` or ``failed`` and learns
that it did from the row count.
"""

import datetime
from typing import NamedTuple

from imagepipe.graph import PIPELINE
from imagepipe.settings import get_settings

from .database import database
from .image import DeletedImage, Image, Step, utcnow
from .outbox import PendingEvent
from .webhooks import record_event_webhooks


class Finished(NamedTuple):
    """What finishing a step did: whether it completed the image, the steps it made ready
    (every step they wait for is done now, by this call: their messages are to be sent), and
    the outbox row ``(id, payload)`` of the image's terminal event when it completed."""

    completed: bool
    ready: tuple
    event: tuple | None = None


def register_image(source, original_name="", graph=PIPELINE):
    """Create an image in ``queued`` with one queued row per step of ``graph``; send the
    messages of its first steps after this (imagepipe.submission does)."""
    with database.atomic():
        image = Image.create(source=source, original_name=original_name[:255])
        Step.insert_many([{"image": image.id, "name": name} for name in graph.names]).execute()
    return image


def start_step(image_id, name, worker=None):
    """Mark a step as running in ``worker`` (``host:pid``) and count the attempt; False when it
    is done already or cancelled, or its image has failed (another step failed for good:
    nothing downstream is worth doing) or was cancelled.

    Raises Image.DoesNotExist when the image (or its step) is unknown.
    """
    now = utcnow()
    given_up = Image.select(Image.id).where(Image.id == image_id, Image.status.in_(Image.GIVEN_UP))
    started = (
        Step.update(
            status=Step.PROCESSING,
            attempts=Step.attempts + 1,
            unended=Step.unended + 1,
            started_at=now,
            finished_at=None,
            worker=worker,
            progress=None,
            progress_note=None,
            progress_at=None,
        )
        .where(
            Step.image == image_id,
            Step.name == name,
            Step.status.not_in([Step.DONE, Step.CANCELLED]),
            Step.image.not_in(given_up),
        )
        .execute()
    )
    if not started:
        if Step.select().where(Step.image == image_id, Step.name == name).exists():
            return False
        raise Image.DoesNotExist(f"image {image_id} has no step {name!r}")
    Image.update(status=Image.PROCESSING, updated_at=now).where(
        Image.id == image_id, Image.status == Image.QUEUED
    ).execute()
    return True


def unended_attempts(image_id, name):
    """The attempts in a row of a step that started and never ended, while it is still
    ``processing``; else 0.

    Every attempt that ends records it (done, an error for a retry, an interruption, or
    failed), which sets the count back to 0, so these were left by processes that died under
    them (killed, crashed), however the attempts before them ended.
    """
    step = (
        Step.select(Step.unended)
        .where(Step.image == image_id, Step.name == name, Step.status == Step.PROCESSING)
        .first()
    )
    return step.unended if step else 0


def finish_step(image_id, name, graph=PIPELINE, *, event=None):
    """Mark a step done: Finished(completed, ready). Exactly one caller completes an image, and
    exactly one makes each later step ready, whatever the order its prerequisites finish in.

    One transaction: a process that dies between the updates must not leave the step done on
    an image still ``processing``, as nothing would complete it (its message, redelivered, is
    skipped as done). It writes the image row first, which locks it: finishers of one image
    take turns, so the last one sees every other step done (under PostgreSQL's read committed,
    two concurrent transactions would each miss the other's uncommitted step). Only the call
    that moved the step to done reports what became ready, so a step finished twice (a
    duplicate delivery) sends nothing twice. ``event``, the encoded ``image-completed``, is
    kept in the outbox (models.outbox) in the same transaction when this call completes it.
    """
    now = utcnow()
    with database.atomic():
        Image.update(updated_at=now).where(Image.id == image_id).execute()
        moved = (
            Step.update(status=Step.DONE, finished_at=now, error=None, unended=0)
            .where(Step.image == image_id, Step.name == name, Step.status.not_in([Step.DONE, Step.CANCELLED]))
            .execute()
        )
        ready = _ready_after(image_id, name, graph) if moved else ()
        unfinished = Step.select(Step.image).where(Step.image == image_id, Step.status != Step.DONE)
        completed = bool(
            # queued too: a retry (retry_image) may have queued the image while this step still ran
            Image.update(status=Image.COMPLETED, completed_at=now, updated_at=now, error=None)
            .where(
                Image.id == image_id,
                Image.status.in_([Image.QUEUED, Image.PROCESSING]),
                Image.id.not_in(unfinished),
            )
            .execute()
        )
        kept = _keep(event) if completed else None
    return Finished(completed, ready, kept)


def _keep(event):
    """The outbox row ``(id, payload)`` of ``event``, or None without one; the event's webhook
    deliveries (models.webhooks) are written with it, in the caller's transaction."""
    if event is None:
        return None
    settings = get_settings()
    if settings.webhooks:
        record_event_webhooks(event, settings.webhook_urls_for)
    return (PendingEvent.create(payload=event).id, event)


def waiting_after(image_id, name, graph=PIPELINE):
    """The steps that ``name`` (done) made ready and that never started, unless the image has
    failed or was cancelled: what its finisher sent, or had yet to send when its process died."""
    if Image.select().where(Image.id == image_id, Image.status.in_(Image.GIVEN_UP)).exists():
        return ()
    return _ready_after(image_id, name, graph)


def _ready_after(image_id, name, graph):
    """The steps waiting for ``name`` whose every prerequisite is done and that never started."""
    dependents = graph.dependents(name)
    return _ready(image_id, dependents) if dependents else ()


def _ready(image_id, steps):
    """Those of ``steps`` (graph steps) that are queued with every prerequisite done."""
    status = dict(Step.select(Step.name, Step.status).where(Step.image == image_id).tuples())
    return tuple(
        step.name
        for step in steps
        if status.get(step.name) == Step.QUEUED and all(status.get(before) == Step.DONE for before in step.after)
    )


def give_back_attempt(image_id, name):
    """Uncount the attempt of a step that did not run for reasons of someone else's (an API's
    "too many requests"): it is queued again, as it was before the attempt."""
    Step.update(status=Step.QUEUED, attempts=Step.attempts - 1, unended=0).where(
        Step.image == image_id, Step.name == name, Step.status == Step.PROCESSING, Step.attempts > 0
    ).execute()


def postpone_step(image_id, name, delay_ms):
    """A step whose message comes back in ``delay_ms`` (a rate limit's slot, an API's
    Retry-After) shows that as its last activity, so the sweeper does not take it for lost."""
    until = utcnow() + datetime.timedelta(milliseconds=delay_ms)
    Step.update(started_at=until).where(
        Step.image == image_id, Step.name == name, Step.status.in_([Step.QUEUED, Step.PROCESSING])
    ).execute()


def record_step_error(image_id, name, error):
    """Keep the last error of a step that will be retried."""
    Step.update(error=error, unended=0).where(Step.image == image_id, Step.name == name).execute()


class Failed(NamedTuple):
    """What failing a step did: whether it moved the image to ``failed`` (exactly one caller
    does), and then the outbox row ``(id, payload)`` of the image's terminal event."""

    failed: bool
    event: tuple | None = None


def fail_step(image_id, name, error, *, event=None):
    """Fail a step and its image for good; ``event``, the encoded ``image-failed``, is kept in
    the outbox in the same transaction when this call fails the image."""
    now = utcnow()
    with database.atomic():
        # The image row first, as finish_step and cancel_image take it: one lock order, no deadlock.
        Image.update(updated_at=now).where(Image.id == image_id).execute()
        Step.update(status=Step.FAILED, error=error, finished_at=now, unended=0).where(
            Step.image == image_id, Step.name == name, Step.status != Step.CANCELLED
        ).execute()
        failed = (
            Image.update(status=Image.FAILED, error=error, updated_at=now)
            .where(Image.id == image_id, Image.status.not_in(Image.ENDED))
            .execute()
        )
        return Failed(True, _keep(event)) if failed else Failed(False)


class Cancelled(NamedTuple):
    """What cancelling an image did: whether this call cancelled it, and then the outbox row
    ``(id, payload)`` of its ``image-cancelled`` event."""

    cancelled: bool
    event: tuple | None = None


def cancel_image(image_id, *, event=None):
    """Cancel an image that has not ended: its queued and running steps become ``cancelled``
    (StepTracking skips their messages; a running one stops at its next progress call or
    isolation wait) and ``event``, the encoded ``image-cancelled``, is kept in the outbox in
    the same transaction. Cancelled(False) when the image is unknown or has ended."""
    now = utcnow()
    with database.atomic():
        cancelled = (
            Image.update(status=Image.CANCELLED, updated_at=now)
            .where(Image.id == image_id, Image.status.not_in(Image.ENDED))
            .execute()
        )
        if not cancelled:
            return Cancelled(False)
        Step.update(status=Step.CANCELLED, finished_at=now, unended=0).where(
            Step.image == image_id, Step.status.in_([Step.QUEUED, Step.PROCESSING])
        ).execute()
        return Cancelled(True, _keep(event))


def retry_image(image_id, graph=PIPELINE):
    """Queue a cancelled image's cancelled steps again: the names of those to send now (every
    step they wait for is done), or None when the image is not cancelled."""
    with database.atomic():
        moved = (
            Image.update(status=Image.QUEUED, updated_at=utcnow())
            .where(Image.id == image_id, Image.status == Image.CANCELLED)
            .execute()
        )
        if not moved:
            return None
        Step.update(status=Step.QUEUED, error=None, finished_at=None, unended=0).where(
            Step.image == image_id, Step.status == Step.CANCELLED
        ).execute()
        return _ready(image_id, graph)


def image_cancelled(image_id):
    """Whether the image was cancelled (a running step's thread asks, imagepipe.progress)."""
    return Image.select().where(Image.id == image_id, Image.status == Image.CANCELLED).exists()


def record_progress(image_id, name, percent, note=None):
    """Keep a running step's last progress report on its row, for clients that poll."""
    Step.update(progress=percent, progress_note=None if note is None else note[:255], progress_at=utcnow()).where(
        Step.image == image_id, Step.name == name, Step.status == Step.PROCESSING
    ).execute()


def requeue_step(image_id, name):
    """Put a failed step back to ``queued`` for a replayed message; True when it was failed.

    The image goes back to ``queued``, its error cleared, once none of its steps is failed any
    more: while another step is still failed, finishing this one could not complete the image,
    so it stays ``failed`` instead of sitting in ``processing`` with nothing running. A step
    that is done is left alone, so StepTracking skips its message and no work is repeated.
    """
    with database.atomic():
        requeued = (
            Step.update(status=Step.QUEUED, error=None, finished_at=None)
            .where(Step.image == image_id, Step.name == name, Step.status == Step.FAILED)
            .execute()
        )
        if requeued:
            still_failed = Step.select(Step.image).where(Step.image == image_id, Step.status == Step.FAILED)
            Image.update(status=Image.QUEUED, error=None, updated_at=utcnow()).where(
                Image.id == image_id, Image.status == Image.FAILED, Image.id.not_in(still_failed)
            ).execute()
    return bool(requeued)


def reopen_step(image_id, name, graph=PIPELINE):
    """Queue step ``name`` of an image again, to redo or back-fill it (``imagepipe describe``):
    its row is made when the image is older than the step, else set back to ``queued``. False
    when that cannot be done now: the image is unknown, failed or cancelled, a step it waits for is not
    done (ingest has not checked the file yet), or it is running (its redo would be lost)."""
    if not Image.select().where(Image.id == image_id, Image.status.not_in(Image.GIVEN_UP)).exists():
        return False
    status = dict(Step.select(Step.name, Step.status).where(Step.image == image_id).tuples())
    if any(status.get(before) != Step.DONE for before in graph[name].after) or status.get(name) == Step.PROCESSING:
        return False
    reopened = {Step.status: Step.QUEUED, Step.error: None, Step.finished_at: None, Step.unended: 0}
    Step.insert(image=image_id, name=name).on_conflict(
        conflict_target=[Step.image, Step.name], update=reopened
    ).execute()
    return True


def was_deleted(image_id):
    """Whether the image existed and was deleted (``imagepipe.removal``)."""
    return DeletedImage.select().where(DeletedImage.id == image_id).exists()
