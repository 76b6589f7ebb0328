"""The webhook delivery log: one row per event and subscribed URL (README, "Webhooks").

A delivery row is written in the transaction that keeps its event (models.lifecycle ``_keep``
for an image's terminal event, DeadLetters for a dead letter), so a process killed after the
commit loses no webhook: the dispatcher of any worker process (middleware.webhooks) claims
the rows whose message was never sent and sends them to the ``deliver_webhook`` actor.

The row holds the URL with its password masked (imagepipe.redaction): the real URL is looked
up in IMAGEPIPE_WEBHOOK_URL when the message runs, so no secret is ever stored.
"""

import datetime
import json
import time
import uuid

import peewee

from imagepipe.redaction import without_url_credentials

from .database import database
from .image import BaseModel, utcnow

#: An image's terminal event (imagepipe.event_stream) -> its webhook type and the image status.
IMAGE_EVENTS = {
    "image-completed": ("image.completed", "completed"),
    "image-failed": ("image.failed", "failed"),
    "image-cancelled": ("image.cancelled", "cancelled"),
}
DEAD_LETTER_CREATED = "dead_letter.created"
#: A claimed row whose message never ran for this long is claimed again: its process died
#: between the claim and the send. A message that was only slow is then sent twice, which a
#: receiver dedupes by the event id; a loss would be worse.
SEND_LEASE_S = 300


class WebhookDelivery(BaseModel):
    """One event to one URL, and how sending it went."""

    PENDING, DELIVERED, FAILED, GONE = "pending", "delivered", "failed", "gone"

    #: The event's id in the body (``evt_...``): the same for every URL, for receivers to dedupe.
    event_id = peewee.CharField(max_length=40, index=True)
    event_type = peewee.CharField(max_length=32)
    #: The URL as IMAGEPIPE_WEBHOOK_URL has it, with any user and password masked.
    url = peewee.CharField(max_length=2048, index=True)
    #: The JSON body, exactly as signed and sent on every attempt.
    body = peewee.TextField()
    status = peewee.CharField(max_length=16, default=PENDING, index=True)
    attempts = peewee.IntegerField(default=0)
    last_status_code = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    #: When its message was last handed to the broker; None: never, the dispatcher sends it.
    sent_at = peewee.DateTimeField(null=True)
    delivered_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "webhook_delivery"


class GoneWebhook(BaseModel):
    """A URL (masked) that answered 410 Gone: nothing more is sent to it until a redelivery."""

    url = peewee.CharField(max_length=2048, primary_key=True)
    gone_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "webhook_gone"


def masked(url):
    """The form of ``url`` that is stored and shown: no user, no password."""
    return without_url_credentials(url, mark="***")


def record_event_webhooks(event, urls_for):
    """Delivery rows for an encoded terminal event (``_keep``'s), to the URLs that
    ``urls_for(webhook_type)`` names; call it inside the event's transaction."""
    decoded = json.loads(event)
    if decoded.get("type") not in IMAGE_EVENTS:
        return []
    webhook_type, status = IMAGE_EVENTS[decoded["type"]]
    error = decoded.get("error")
    image = {
        "id": decoded.get("image_id"),
        "status": status,
        "error": None if error is None else without_url_credentials(str(error)),
    }
    return record_deliveries(webhook_type, {"image": image}, urls_for(webhook_type))


def record_dead_letter_webhooks(dead_letter, urls_for):
    """Delivery rows of ``dead_letter.created`` for a DeadLetter row: its id, actor, error type
    and image, not its error text or message (they may hold what the receiver must not see)."""
    data = {
        "dead_letter": {
            "id": dead_letter.id,
            "actor": dead_letter.actor,
            "error_type": dead_letter.error_type,
            "image_id": dead_letter.image_id,
        }
    }
    return record_deliveries(DEAD_LETTER_CREATED, data, urls_for(DEAD_LETTER_CREATED))


def record_deliveries(event_type, data, urls):
    """One pending row per URL for a new event (``gone`` at once for a URL that is gone);
    their ids. The body is made here, once, so every attempt sends the same bytes."""
    if not urls:
        return []
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps({"id": event_id, "type": event_type, "created": int(time.time()), "data": data})
    shown = [masked(url) for url in urls]
    gone = {row.url for row in GoneWebhook.select().where(GoneWebhook.url.in_(shown))}
    ids = []
    for url in shown:
        status = WebhookDelivery.GONE if url in gone else WebhookDelivery.PENDING
        ids.append(
            WebhookDelivery.create(event_id=event_id, event_type=event_type, url=url, body=body, status=status).id
        )
    return ids


def claim_unsent(limit=100):
    """Ids of pending deliveries whose message is to be sent now, each claimed by one caller
    (a conditional UPDATE): those never sent, and those claimed SEND_LEASE_S ago that never ran."""
    stale = utcnow() - datetime.timedelta(seconds=SEND_LEASE_S)
    unsent = WebhookDelivery.sent_at.is_null() | ((WebhookDelivery.attempts == 0) & (WebhookDelivery.sent_at < stale))
    candidates = (
        WebhookDelivery.select(WebhookDelivery.id, WebhookDelivery.sent_at)
        .where(WebhookDelivery.status == WebhookDelivery.PENDING, unsent)
        .order_by(WebhookDelivery.id)
        .limit(limit)
        .tuples()
    )
    claimed = []
    for delivery_id, sent_at in list(candidates):
        same = WebhookDelivery.sent_at.is_null() if sent_at is None else WebhookDelivery.sent_at == sent_at
        if WebhookDelivery.update(sent_at=utcnow()).where(WebhookDelivery.id == delivery_id, same).execute():
            claimed.append(delivery_id)
    return claimed


def record_attempt(delivery_id, status, *, status_code=None, error=None):
    """Count one attempt of a delivery and what came of it (``status``: where it stands now)."""
    now = utcnow()
    WebhookDelivery.update(
        status=status,
        attempts=WebhookDelivery.attempts + 1,
        last_status_code=status_code,
        last_error=error,
        updated_at=now,
        delivered_at=now if status == WebhookDelivery.DELIVERED else None,
    ).where(WebhookDelivery.id == delivery_id).execute()


def mark_gone(url):
    """A URL answered 410: remember it, and give up its other pending deliveries."""
    GoneWebhook.insert(url=url).on_conflict_ignore().execute()
    WebhookDelivery.update(status=WebhookDelivery.GONE, updated_at=utcnow()).where(
        WebhookDelivery.url == url, WebhookDelivery.status == WebhookDelivery.PENDING
    ).execute()


def is_gone(url):
    return GoneWebhook.select().where(GoneWebhook.url == url).exists()


def end_delivery(delivery_id, status, error):
    """End a delivery without an attempt (its URL gone or no longer configured)."""
    WebhookDelivery.update(status=status, last_error=error, updated_at=utcnow()).where(
        WebhookDelivery.id == delivery_id
    ).execute()


def redeliver(ids):
    """Send deliveries again with a fresh schedule, whatever their status; their URLs are no
    longer gone. Returns the rows as they were, by id; unknown ids raise ValueError."""
    deliveries = list(WebhookDelivery.select().where(WebhookDelivery.id.in_(list(ids))).order_by(WebhookDelivery.id))
    missing = set(ids) - {delivery.id for delivery in deliveries}
    if missing:
        raise ValueError(f"no webhook delivery with id {', '.join(map(str, sorted(missing)))}")
    with database.atomic():
        GoneWebhook.delete().where(GoneWebhook.url.in_({delivery.url for delivery in deliveries})).execute()
        # attempts=0 as well: a fresh schedule, and a claim lost before its first attempt is
        # claimed again (claim_unsent), as for a new delivery
        WebhookDelivery.update(status=WebhookDelivery.PENDING, sent_at=None, attempts=0, updated_at=utcnow()).where(
            WebhookDelivery.id.in_(list(ids))
        ).execute()
    return deliveries
