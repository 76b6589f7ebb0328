"""``imagepipe webhooks list|redeliver``: the webhook delivery log, and sending again."""

import json

from imagepipe.redaction import without_query_values
from models import WebhookDelivery, bind_database
from models.webhooks import redeliver as redeliver_deliveries

from .dead_letters import TIME_FORMAT
from .table import render_table

NAME = "webhooks"
HELP = "list the webhook deliveries, or send some again (also to a URL that answered 410 Gone)"
DEFAULT_LIMIT = 50
STATUSES = (WebhookDelivery.PENDING, WebhookDelivery.DELIVERED, WebhookDelivery.FAILED, WebhookDelivery.GONE)
#: Characters of the last error that the table shows; --json has all of it.
ERROR_WIDTH = 50


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the latest deliveries, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only the deliveries in this status")
    listing.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"how many (default {DEFAULT_LIMIT})")
    listing.add_argument("--json", action="store_true", help="one JSON array, for programs")
    again = actions.add_parser("redeliver", help="send deliveries again with a fresh retry schedule")
    again.add_argument("ids", nargs="+", type=int, metavar="ID", help="deliveries to send again")


def run(args, settings):
    bind_database(settings.database_url)
    return {"list": list_deliveries, "redeliver": redeliver}[args.action](args)


def delivery_state(delivery):
    """A delivery as plain values (no body: ``created`` and ids say which event it was)."""
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "url": without_query_values(delivery.url),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": _time(delivery.created_at),
        "updated_at": _time(delivery.updated_at),
        "delivered_at": _time(delivery.delivered_at),
    }


def list_deliveries(args):
    query = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).limit(args.limit)
    if args.status:
        query = query.where(WebhookDelivery.status == args.status)
    deliveries = list(query)
    if args.json:
        print(json.dumps([delivery_state(delivery) for delivery in deliveries], indent=2))
        return
    if not deliveries:
        print("no webhook deliveries")
        return
    headers = ["id", "created (UTC)", "event", "url", "status", "attempts", "last answer"]
    print(render_table(headers, [_row(delivery) for delivery in deliveries]))


def redeliver(args):
    for delivery in redeliver_deliveries(args.ids):
        print(
            f"delivery {delivery.id} ({delivery.event_type} to {without_query_values(delivery.url)}) will be sent again"
        )


def _row(delivery):
    answer = delivery.last_error or (f"HTTP {delivery.last_status_code}" if delivery.last_status_code else "-")
    answer = answer.strip().splitlines()[0] if answer.strip() else "-"
    short = answer if len(answer) <= ERROR_WIDTH else answer[: ERROR_WIDTH - 1] + "…"
    created = delivery.created_at.strftime(TIME_FORMAT)
    return [
        delivery.id,
        created,
        delivery.event_type,
        without_query_values(delivery.url),
        delivery.status,
        delivery.attempts,
        short,
    ]


def _time(moment):
    """ISO 8601 in UTC, as the web app's JSON has its times."""
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"
