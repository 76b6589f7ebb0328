"""The operations page's JSON: queues, workers, the last hour's activity, the rate limits;
and the same queue figures as Prometheus gauges.

``/api/queues`` and ``/api/workers`` are the figures of ``imagepipe queues`` (imagepipe.queues),
``/api/activity`` the per-minute counts the workers keep (imagepipe.activity) and
``/api/rate-limits`` the budgets of the pipeline's actors (imagepipe.rate_budgets); the
README's "Queues and workers" has the schemas. Their Redis and database calls block, so they
run in Starlette's thread pool. ``/metrics`` has the queue figures and the images by status
as Prometheus gauges (imagepipe.gauges), behind the same token.
"""

import functools

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagepipe.activity import ActivityReader
from imagepipe.queues import broker_kind, connect, read_queues, read_worker_list
from imagepipe.rate_budgets import read_rate_limits

from .db import in_database
from .responses import error_response


async def queues(request):
    settings = request.app.state.settings
    return JSONResponse(await in_database(read_queues, settings, **_clients(settings)))


async def workers(request):
    settings = request.app.state.settings
    return JSONResponse(await run_in_threadpool(read_worker_list, settings, **_clients(settings)))


async def metrics(request):
    settings = request.app.state.settings
    if not settings.prometheus:
        return error_response(404, "Prometheus metrics are off: set IMAGEPIPE_PROMETHEUS=1")
    from imagepipe import gauges  # prometheus-client is an extra: only when asked for

    body = await in_database(gauges.render, settings, **_clients(settings))
    return Response(body, media_type=gauges.CONTENT_TYPE)


async def activity(request):
    return JSONResponse(await run_in_threadpool(request.app.state.activity.read))


def activity_reader(settings):
    """The app's one reader (its memory of the closed minutes serves every poll), made at start-up."""
    return ActivityReader(_client(settings.events_redis_url), settings.events_stream)


async def rate_limits(request):
    settings = request.app.state.settings
    return JSONResponse(await run_in_threadpool(read_rate_limits, _client(settings.redis_url), settings))


def _clients(settings):
    broker = _client(settings.broker_url) if broker_kind(settings) == "redis" else None
    return {"broker_client": broker, "health_client": _client(settings.redis_url)}


@functools.cache
def _client(url):
    """One client (and connection pool, shared by the pool's threads) per URL for the process:
    a poll every few seconds then opens no connection."""
    return connect(url)


routes = [
    Route("/api/queues", queues, methods=["GET"]),
    Route("/api/workers", workers, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/api/activity", activity, methods=["GET"]),
    Route("/api/rate-limits", rate_limits, methods=["GET"]),
]
