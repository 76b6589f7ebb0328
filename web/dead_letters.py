"""``/dead-letters``: list the messages that failed for good, and replay one."""

from starlette.responses import JSONResponse
from starlette.routing import Route

from imagepipe.dead_letters import replay
from imagepipe.graph import PIPELINE
from models import DeadLetter, timestamp

from .db import in_database
from .responses import ApiError, int_param

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
ERROR_CHARS = 500


async def list_dead_letters(request):
    limit = int_param(request, "limit", DEFAULT_LIMIT, maximum=MAX_LIMIT)
    return JSONResponse({"dead_letters": await in_database(_recent, limit)})


async def replay_dead_letter(request):
    dead_letter_id = request.path_params["dead_letter_id"]
    try:
        (dead_letter,) = await in_database(_replay, dead_letter_id)
    except ValueError as exc:  # replay() names the unknown id or actor
        status = 404 if "no dead letter" in str(exc) else 409
        raise ApiError(status, str(exc)) from None
    return JSONResponse({"replayed": dead_letter_id, "image_id": dead_letter.image_id}, status_code=202)


def _replay(dead_letter_id):
    import actors  # the broker the messages go back to; imported on first use, not at import

    return replay([dead_letter_id], broker=actors.broker)


async def show_dead_letter(request):
    """One dead letter with its whole error and traceback: 200, or 404."""
    dead_letter_id = request.path_params["dead_letter_id"]
    body = await in_database(_one, dead_letter_id)
    if body is None:
        raise ApiError(404, f"no dead letter with id {dead_letter_id}")
    return JSONResponse(body)


def _one(dead_letter_id):
    row = DeadLetter.get_or_none(DeadLetter.id == dead_letter_id)
    return None if row is None else {**_summary(row), "error": row.error, "traceback": row.traceback}


def _recent(limit):
    return [_summary(row) for row in DeadLetter.select().order_by(DeadLetter.id.desc()).limit(limit)]


def _summary(row):
    return {
        "id": row.id,
        "actor": row.actor,
        "step": _step_of(row.actor),
        "queue": row.queue,
        "image_id": row.image_id,
        "message_id": row.message_id,
        "error_type": row.error_type,
        "error": row.error[:ERROR_CHARS],
        "attempts": row.attempts,
        "failed_at": timestamp(row.failed_at),
        "replayed_at": timestamp(row.replayed_at),
        "replay_count": row.replay_count,
        "url": f"/dead-letters/{row.id}",
        "replay": f"/dead-letters/{row.id}/replay",
    }


def _step_of(actor_name):
    """The pipeline step of ``actor_name`` (imagepipe.graph), or None for another actor's message."""
    step = PIPELINE.of_actor(actor_name)
    return None if step is None else step.name


routes = [
    Route("/dead-letters", list_dead_letters, methods=["GET"]),
    Route("/dead-letters/{dead_letter_id:int}", show_dead_letter, methods=["GET"]),
    Route("/dead-letters/{dead_letter_id:int}/replay", replay_dead_letter, methods=["POST"]),
]
