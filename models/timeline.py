"""Each step of an image as people and programs see it: ``GET /images/{id}``, ``imagepipe status``."""

from imagepipe.graph import PIPELINE

from .image import Step, epoch_s, timestamp


def step_timeline(image_id, graph=PIPELINE):
    """``{"steps": [...], "progress": ...}``: every step in the graph's order with its status,
    attempts, times, duration, worker and last error; and the image's last progress report
    (the latest one kept on a step's row), or None."""
    rows = {step.name: step for step in Step.select().where(Step.image == image_id)}
    steps = [_step(rows[name]) for name in graph.names if name in rows]
    steps += [_step(row) for name, row in rows.items() if name not in graph.names]  # a retired step's row
    reported = [row for row in rows.values() if row.progress_at is not None]
    latest = max(reported, key=lambda row: row.progress_at, default=None)
    return {"steps": steps, "progress": None if latest is None else _progress(latest)}


def _step(row):
    ended = row.finished_at is not None and row.started_at is not None and row.finished_at >= row.started_at
    return {
        "name": row.name,
        "status": row.status,
        "attempts": row.attempts,
        "started_at": timestamp(row.started_at),
        "finished_at": timestamp(row.finished_at),
        "duration_ms": round((epoch_s(row.finished_at) - epoch_s(row.started_at)) * 1000) if ended else None,
        "worker": row.worker,
        "error": row.error,
    }


def _progress(row):
    return {"step": row.name, "percent": row.progress, "note": row.progress_note, "at": timestamp(row.progress_at)}
