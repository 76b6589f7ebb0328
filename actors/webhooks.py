"""The webhook actor: its own queue, so a slow or absent receiver never delays a pipeline queue.

Its retry schedule is Dramatiq's options, from the settings (IMAGEPIPE_WEBHOOK_MIN_BACKOFF_MS,
_MAX_BACKOFF_MS, _MAX_RETRIES; PipelineRetries doubles exactly, without jitter). Its messages
are sent by the dispatcher (middleware.webhooks), never by the code that makes an event.
"""

import dramatiq
from dramatiq.middleware import CurrentMessage

from imagepipe.settings import get_settings
from imagepipe.webhooks import DELIVERY_ACTOR, WEBHOOKS_QUEUE, deliver

#: Among the messages a worker holds, pipeline steps (priority 0 and 10) run first.
WEBHOOKS_PRIORITY = 100
_settings = get_settings()


@dramatiq.actor(
    actor_name=DELIVERY_ACTOR,
    queue_name=WEBHOOKS_QUEUE,
    priority=WEBHOOKS_PRIORITY,
    max_retries=_settings.webhook_max_retries,
    min_backoff=_settings.webhook_min_backoff_ms,
    max_backoff=_settings.webhook_max_backoff_ms,
)
def deliver_webhook(delivery_id):
    """POST one logged delivery (models.webhooks) to its URL; raising retries it."""
    message = CurrentMessage.get_current_message()
    retries = 0 if message is None else message.options.get("retries", 0)
    deliver(delivery_id, get_settings(), final=retries >= deliver_webhook.options["max_retries"])
