"""Retention: old data deleted after a number of days set per kind; every kind is kept for
ever unless its setting is set.

* ``step_history``: the step rows of images completed that many days ago (the images, their
  variants and metadata stay; the step timeline of such an image is then empty).
* ``replayed_dead_letters``: dead letters whose last replay was that long ago (a replay that
  failed again is a new dead letter); those never replayed stay for a person to look at.
* ``failed_images``: failed and cancelled images, with their rows and files (source and
  variants, imagepipe.removal), that long after they failed or were cancelled.

Rows go in batches of ``BATCH_ROWS``, each one short transaction, so that SQLite's single
writer (a worker finishing a step) never waits long. The sweeper's leader applies it
(middleware/sweeper.py); ``imagepipe purge [--dry-run]`` applies or shows it by hand.
"""

import datetime
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from imagepipe.removal import delete_image
from models.image import utcnow
from models.retention import (
    delete_oldest,
    given_up_before,
    old_given_up_images,
    old_replayed_dead_letters,
    old_step_history,
    oldest,
    span,
)

log = logging.getLogger(__name__)

#: Rows a transaction deletes: a few milliseconds of SQLite's write lock.
BATCH_ROWS = 500


@dataclass(frozen=True)
class Kind:
    """One kind of data that retention deletes: its setting and how its old rows are found."""

    name: str
    setting: str
    what: str
    find_old: Callable


KINDS = (
    Kind("step_history", "retain_step_history_days", "step rows of completed images", old_step_history),
    Kind(
        "replayed_dead_letters",
        "retain_replayed_dead_letters_days",
        "dead letters already replayed",
        old_replayed_dead_letters,
    ),
    Kind(
        "failed_images", "retain_failed_images_days", "failed and cancelled images, files included", old_given_up_images
    ),
)


@dataclass(frozen=True)
class Purged:
    """What one kind lost (or would lose, in a dry run): ``count`` rows (images for
    failed_images) aged between ``oldest`` and ``newest``; ``finished`` is False when the time
    budget ran out with old rows left."""

    kind: str
    days: float
    count: int
    oldest: datetime.datetime | None
    newest: datetime.datetime | None
    finished: bool = True


def retention_days(settings):
    """``{kind name: days}`` of the kinds whose retention is set."""
    days = {kind.name: getattr(settings, kind.setting) for kind in KINDS}
    return {name: value for name, value in days.items() if value is not None}


def purge(days, *, dry_run=False, now=None, budget_s=None, batch=BATCH_ROWS):
    """Delete the old rows of each kind named in ``days`` (``{kind: days}``, as
    ``retention_days`` gives); a Purged for each. ``dry_run`` only counts them.

    ``budget_s``: no batch starts after that many seconds; the rest waits for the next pass.
    """
    now = now or utcnow()
    started = time.monotonic()

    def in_budget():
        return budget_s is None or time.monotonic() - started < budget_s

    report = []
    for kind in KINDS:
        if kind.name not in days:
            continue
        cutoff = now - datetime.timedelta(days=days[kind.name])
        old = kind.find_old(cutoff)
        count, first, last = span(old)
        finished = True
        if not dry_run and count:
            if kind.name == "failed_images":
                delete_batch = functools.partial(_delete_images, old, cutoff, batch)
            else:
                delete_batch = functools.partial(delete_oldest, old, batch)
            count, finished = _in_batches(delete_batch, batch, in_budget)
            log.info("Retention: deleted %d %s older than %g days.", count, kind.what, days[kind.name])
        report.append(Purged(kind.name, days[kind.name], count, first, last, finished))
    return report


def _in_batches(delete_batch, batch, in_budget):
    """Run ``delete_batch`` until one deletes less than ``batch`` or the budget is spent:
    ``(deleted, finished)``."""
    deleted = 0
    while in_budget():
        gone = delete_batch()
        deleted += gone
        if gone < batch:
            return deleted, True
    return deleted, False


def _delete_images(old, cutoff, batch):
    """Delete the ``batch`` oldest given-up images with their files, each in its own transaction;
    one retried meanwhile (no longer failed or cancelled) is left alone."""
    ids = [image_id for (image_id,) in oldest(old, batch).tuples()]
    return sum(delete_image(image_id, given_up_before(cutoff)) for image_id in ids)
