"""Sending one webhook delivery and recording how it went (models.webhooks holds the log).

2xx is delivered; 410 Gone stops every delivery to that URL; anything else (another status, a
redirect, a refused connection, a timeout) is an attempt to retry, by raising DeliveryFailed,
until the last attempt, which marks the delivery ``failed`` instead of raising: a failed
webhook must not become a dead letter, whose own webhook could fail the same way.
"""

import base64
import http.client
import logging
import urllib.error
import urllib.request
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from imagepipe.errors import TransientError
from imagepipe.redaction import without_url_credentials
from imagepipe.webhook_signing import SIGNATURE_HEADER, signature_header
from models import WebhookDelivery
from models.webhooks import end_delivery, is_gone, mark_gone, masked, record_attempt

logger = logging.getLogger(__name__)
#: The actor that delivers webhooks (actors.webhooks): the dispatcher sends to it, and
#: DeadLetters makes no dead_letter.created webhook of its own failures.
DELIVERY_ACTOR = "deliver_webhook"
#: Its queue of its own, so a slow or absent receiver never delays a pipeline queue.
WEBHOOKS_QUEUE = "webhooks"
USER_AGENT = "imagepipe-webhooks/1"
GONE = 410
#: Characters of a receiver's error answer or of a network error kept in the log table.
ERROR_LIMIT = 500


class DeliveryFailed(TransientError):
    """A receiver did not take a webhook (status, timeout, connection); it is sent again later."""

    def __init__(self, delivery_id, reason):
        super().__init__(f"webhook delivery {delivery_id} failed: {reason}")
        self.delivery_id = delivery_id
        self.reason = reason


class Answer(NamedTuple):
    """What one POST came to: the status code (None without a response) and an error text."""

    status_code: int | None
    error: str | None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to retry, not to follow: the body and signature stay at the URL
    the operator configured."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url, body, *, secret, timeout_ms):
    """POST ``body`` (bytes) signed with ``secret`` to ``url``; a user and password in the URL
    are sent as Basic authentication. Never raises for the receiver's or the network's faults."""
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    headers[SIGNATURE_HEADER] = signature_header(secret, body)
    request = urllib.request.Request(urlunsplit(parts), data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout_ms / 1000) as response:
            return Answer(response.status, None)
    except urllib.error.HTTPError as error:
        with error:
            text = error.read(ERROR_LIMIT).decode("utf-8", "replace")
        return Answer(error.code, f"HTTP {error.code}: {text}".strip()[:ERROR_LIMIT])
    # URLError, timeouts, refused connections, bad URLs, and a receiver that breaks HTTP itself
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        return Answer(None, without_url_credentials(f"{type(error).__name__}: {reason}")[:ERROR_LIMIT])


def deliver(delivery_id, settings, *, final):
    """Send one delivery if it is still pending; ``final`` on its last attempt. Returns its
    status after this attempt; raises DeliveryFailed when it is to be retried."""
    delivery = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id)
    if delivery is None or delivery.status != WebhookDelivery.PENDING:
        return None if delivery is None else delivery.status  # delivered, gone or redelivered since
    url = next((url for url, _ in settings.webhooks if masked(url) == delivery.url), None)
    if url is None:
        end_delivery(delivery_id, WebhookDelivery.FAILED, "the URL is no longer in IMAGEPIPE_WEBHOOK_URL")
        return WebhookDelivery.FAILED
    if is_gone(delivery.url):
        end_delivery(delivery_id, WebhookDelivery.GONE, "the URL answered 410 Gone to an earlier delivery")
        return WebhookDelivery.GONE
    answer = post(url, delivery.body.encode(), secret=settings.webhook_secret, timeout_ms=settings.webhook_timeout_ms)
    status = _status(answer, final)
    record_attempt(delivery_id, status, status_code=answer.status_code, error=answer.error)
    if status == WebhookDelivery.GONE:
        mark_gone(delivery.url)
        logger.warning("Webhook URL %s answered 410 Gone: nothing more is sent to it.", delivery.url)
    elif status == WebhookDelivery.FAILED:
        logger.warning("Webhook delivery %d to %s failed for good: %s", delivery_id, delivery.url, answer.error)
    elif status == WebhookDelivery.PENDING:
        raise DeliveryFailed(delivery_id, answer.error)
    return status


def _status(answer, final):
    if answer.status_code is not None and 200 <= answer.status_code < 300:
        return WebhookDelivery.DELIVERED
    if answer.status_code == GONE:
        return WebhookDelivery.GONE
    return WebhookDelivery.FAILED if final else WebhookDelivery.PENDING
