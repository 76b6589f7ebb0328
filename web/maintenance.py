"""The operator's writes that the CLI has too: ``POST /purge`` (retention now) and the
webhook delivery log with ``POST /webhooks/{id}/redeliver``. Admin scope, as every write."""

from starlette.responses import JSONResponse
from starlette.routing import Route

from imagepipe.cli.purge import report_json
from imagepipe.cli.webhooks import delivery_state
from imagepipe.retention import purge, retention_days
from models.webhooks import WebhookDelivery, redeliver

from .db import in_database
from .responses import ApiError, int_param

#: A purge over HTTP starts no batch after this long; the rest goes at the next call or the
#: sweeper's next pass, so the request ends well inside a router's timeout.
PURGE_BUDGET_S = 10.0
MAX_DELIVERIES = 200


async def purge_now(request):
    """``POST /purge[?dry_run=1]``: what retention deletes (or would), per kind; 409 when it is off."""
    days = retention_days(request.app.state.settings)
    if not days:
        raise ApiError(409, "retention is off: set the IMAGEPIPE_RETAIN_*_DAYS settings")
    dry_run = request.query_params.get("dry_run", "") in ("1", "true", "yes")
    report = await in_database(purge, days, dry_run=dry_run, budget_s=PURGE_BUDGET_S)
    return JSONResponse(report_json(report, dry_run=dry_run))


async def list_deliveries(request):
    limit = int_param(request, "limit", 50, maximum=MAX_DELIVERIES)
    return JSONResponse({"deliveries": await in_database(_recent, limit)})


def _recent(limit):
    query = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).limit(limit)
    return [delivery_state(delivery) for delivery in query]


async def redeliver_one(request):
    """``POST /webhooks/{id}/redeliver``: 202, sent again with a fresh schedule; 404 for an unknown id."""
    delivery_id = request.path_params["delivery_id"]
    try:
        await in_database(redeliver, [delivery_id])
    except ValueError as exc:
        raise ApiError(404, str(exc)) from None
    return JSONResponse({"redelivered": delivery_id}, status_code=202)


routes = [
    Route("/purge", purge_now, methods=["POST"]),
    Route("/webhooks", list_deliveries, methods=["GET"]),
    Route("/webhooks/{delivery_id:int}/redeliver", redeliver_one, methods=["POST"]),
]
