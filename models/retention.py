"""What retention may delete: each kind's rows older than a cutoff, as queries (imagepipe.retention)."""

from typing import Any, NamedTuple

import peewee

from .dead_letter import DeadLetter
from .image import Image, Step


class Old(NamedTuple):
    """The rows of one kind that are old: ``query`` selects their ids (of ``model``), and
    ``aged_by`` is the moment their age counts from."""

    model: Any
    query: Any
    aged_by: Any


def old_step_history(cutoff):
    """The step rows of the images completed before ``cutoff``; the images and their outputs stay."""
    query = (
        Step.select(Step.id)
        .join(Image, on=(Step.image == Image.id))
        .where(Image.status == Image.COMPLETED, Image.completed_at < cutoff)
    )
    return Old(Step, query, Image.completed_at)


def old_replayed_dead_letters(cutoff):
    """The dead letters last replayed before ``cutoff``; those never replayed stay."""
    return Old(
        DeadLetter, DeadLetter.select(DeadLetter.id).where(DeadLetter.replayed_at < cutoff), DeadLetter.replayed_at
    )


def given_up_before(cutoff):
    """The condition of an image failed or cancelled before ``cutoff`` (its last change)."""
    return Image.status.in_(Image.GIVEN_UP) & (Image.updated_at < cutoff)


def old_given_up_images(cutoff):
    """The images failed or cancelled before ``cutoff``."""
    return Old(Image, Image.select(Image.id).where(given_up_before(cutoff)), Image.updated_at)


def span(old):
    """``(count, oldest, newest)`` of the old rows: how many, and the first and last moment that aged them."""
    count, oldest, newest = old.query.select(
        peewee.fn.COUNT(old.model.id), peewee.fn.MIN(old.aged_by), peewee.fn.MAX(old.aged_by)
    ).tuples()[0]
    return count, oldest, newest


def oldest(old, limit):
    """The query of the ids of the ``limit`` oldest rows."""
    return old.query.order_by(old.aged_by, old.model.id).limit(limit)


def delete_oldest(old, limit):
    """Delete the ``limit`` oldest rows in one statement: one short transaction, which tests
    their age as it deletes them; how many went."""
    return old.model.delete().where(old.model.id.in_(oldest(old, limit))).execute()
