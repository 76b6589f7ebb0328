"""Sending the messages of webhook deliveries that the database holds (models.webhooks)."""

import threading
import time

import dramatiq
from dramatiq.logging import get_logger

from imagepipe.webhooks import DELIVERY_ACTOR
from models import database
from models.webhooks import claim_unsent

from .runner import in_runner_process

#: How often each worker process sends the deliveries written since (s): a webhook leaves
#: within about this long of its event's commit.
DEFAULT_DISPATCH_INTERVAL_S = 1.0


class WebhookDispatch(dramatiq.Middleware):
    """Every ``interval_s``, each worker process of the `dramatiq` runner claims the pending
    deliveries whose message was never sent (models.webhooks.claim_unsent: one process per row)
    and sends them to ``actor_name``.

    The event's transaction writes the delivery row; sending from here, not from that code,
    means a process killed right after the commit loses nothing, and the web app and the CLI
    (``imagepipe cancel``, ``webhooks redeliver``) need no broker connection for webhooks.

    Parameters:
      actor_name(str): the delivering actor; default DELIVERY_ACTOR (``deliver_webhook``).
      interval_s(float): seconds between two dispatches of a process; default 1.
    """

    def __init__(self, *, actor_name=DELIVERY_ACTOR, interval_s=DEFAULT_DISPATCH_INTERVAL_S):
        self.logger = get_logger(__name__, type(self))
        self.actor_name = actor_name
        self.interval_s = interval_s

    def after_worker_boot(self, broker, worker):
        if in_runner_process():  # an embedded Worker's host program has its own life
            thread = threading.Thread(target=self._dispatch_forever, args=(broker,), name="imagepipe-webhooks")
            thread.daemon = True
            thread.start()

    def dispatch(self, broker):
        """Send every unsent delivery; how many were sent."""
        actor = broker.get_actor(self.actor_name)
        sent = 0
        while claimed := claim_unsent():
            for delivery_id in claimed:
                actor.send(delivery_id)
            sent += len(claimed)
        return sent

    def _dispatch_forever(self, broker):
        while True:
            time.sleep(self.interval_s)
            try:
                with database.connection_context():
                    self.dispatch(broker)
            except Exception:  # the thread must outlive a database or broker outage
                self.logger.warning("Could not send the webhook deliveries.", exc_info=True)
