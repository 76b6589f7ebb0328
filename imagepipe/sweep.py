"""Re-sending the messages of stuck steps: the reconciliation sweep.

A message can be lost although its step was recorded: a worker killed after the broker gave
up on it, a Redis that lost its data, a send that failed after the row was written. The step
then stays ``queued`` or ``processing`` for ever. The sweep finds such steps in the database
(models/sweep.py) and sends their message again. That is safe: every actor is idempotent,
StepTracking skips a step that is done, and a re-sent step still counts its deliveries, so a
poison message still fails after ``IMAGEPIPE_MAX_DELIVERIES``.
"""

import logging
from dataclasses import dataclass

import dramatiq

from models import stuck_steps, touch_step
from models.image import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resent:
    """One stuck step, and whether its message was sent (False in a dry run)."""

    image_id: int
    step: str
    status: str
    actor: str
    sent: bool


def step_actors(broker):
    """Each step's actor, from the ``step`` option the actors are declared with."""
    return {actor.options["step"]: actor for actor in broker.actors.values() if actor.options.get("step")}


def sweep(deadline_s, send=True, *, broker=None, now=None):
    """Re-send the message of every step stuck longer than ``deadline_s`` seconds.

    Each re-sent step's ``started_at`` is set to now first, so the next sweeps leave it alone
    until the deadline has passed again; a step that moved meanwhile (its message arrived
    after all) is not sent. With ``send=False`` nothing is changed or sent: the stuck steps are
    only listed. Returns a Resent for each stuck step that has an actor.
    """
    broker = broker or dramatiq.get_broker()
    now = now or utcnow()
    actors = step_actors(broker)
    results = []
    for step in stuck_steps(now, deadline_s):
        actor = actors.get(step.name)
        if actor is None:
            log.warning("Stuck step %s of image %s has no actor on this broker.", step.name, step.image_id)
            continue
        if send:
            if not touch_step(step, now):
                continue  # another sweeper claimed it, or its message arrived meanwhile
            actor.send(step.image_id)
            log.warning("Re-sent %s of image %s (%s since %s).", step.name, step.image_id, step.status, step.started_at)
        results.append(Resent(step.image_id, step.name, step.status, actor.actor_name, send))
    return results
