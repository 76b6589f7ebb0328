"""Replaying dead letters: the original message, sent again with fresh retries."""

import dataclasses

import dramatiq
from dramatiq.common import current_millis
from dramatiq.errors import ActorNotFound

from models import DeadLetter, database, requeue_step
from models.image import utcnow

#: Options that belong to one run of a message rather than to what was sent: Retries' count
#: and last traceback, the broker's delay and Redis id, Sentry's trace headers. A replay
#: drops them, so it gets every retry again and starts its own trace.
RUN_STATE_OPTIONS = ("retries", "traceback", "requeue_timestamp", "eta", "redis_message_id", "_sentry_headers")


def replay_message(dead_letter):
    """The dead letter's message as first sent: same id, actor, queue and arguments.

    Its timestamp is now, or AgeLimit would drop the replay of an old message at once.
    """
    message = dramatiq.Message.decode(dead_letter.message.encode())
    options = {key: value for key, value in message.options.items() if key not in RUN_STATE_OPTIONS}
    return dataclasses.replace(message, options=options, message_timestamp=current_millis())


def replay(ids=None, *, actor=None, broker=None):
    """Send dead letters' messages again; returns the dead letters as selected, oldest first.

    ``ids`` names dead letters (replayed before or not); ``None`` means every one not replayed
    yet, so each chain of failures is replayed once. ``actor`` keeps those of one actor.
    For each, the failed step and its image go back to ``queued`` and the dead letter counts
    the replay, committed before the message is sent so that a fast worker sees the step
    queued. A step that is already done stays done: StepTracking skips the message, so
    replaying twice repeats no work. When sending fails, the error propagates and replaying
    the same id again is safe.
    """
    broker = broker or dramatiq.get_broker()
    query = DeadLetter.select().order_by(DeadLetter.id)
    if ids is None:
        query = query.where(DeadLetter.replayed_at.is_null())
    else:
        query = query.where(DeadLetter.id.in_(list(ids)))
        missing = set(ids) - {dead_letter.id for dead_letter in query}
        if missing:
            raise ValueError(f"no dead letter with id {', '.join(map(str, sorted(missing)))}")
    if actor is not None:
        query = query.where(DeadLetter.actor == actor)
    dead_letters = list(query)
    steps = {dead_letter.id: _step(broker, dead_letter) for dead_letter in dead_letters}
    for dead_letter in dead_letters:
        message = replay_message(dead_letter)
        with database.atomic():
            if steps[dead_letter.id] and dead_letter.image_id is not None:
                requeue_step(dead_letter.image_id, steps[dead_letter.id])
            DeadLetter.update(replayed_at=utcnow(), replay_count=DeadLetter.replay_count + 1).where(
                DeadLetter.id == dead_letter.id
            ).execute()
        broker.enqueue(message)
    return dead_letters


def _step(broker, dead_letter):
    """The step of the dead letter's actor (None for actors without one); checked for every dead
    letter before anything changes, so an unknown actor changes nothing."""
    try:
        return broker.get_actor(dead_letter.actor).options.get("step")
    except ActorNotFound:
        raise ValueError(f"dead letter {dead_letter.id}: no actor named {dead_letter.actor!r}") from None
