"""Tagging each message's Sentry events with its actor and image."""

import dramatiq
import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration

from .steps import image_id_of


class SentryTags(dramatiq.Middleware):
    """Sets the Sentry tags ``actor`` and ``image_id`` for the message being processed.

    Sentry's DramatiqIntegration puts its own middleware first in every broker and opens an
    isolation scope per message in its ``before_process_message``, closing it after the
    message; tags set here, later in the same hook chain, land on that scope and so on this
    message's events only. Without the integration (no ``SENTRY_DSN``) it does nothing, so
    tags never pile up on the process-wide scope.
    """

    def before_process_message(self, broker, message):
        if sentry_sdk.get_client().get_integration(DramatiqIntegration) is None:
            return
        sentry_sdk.set_tag("actor", message.actor_name)
        image_id = image_id_of(broker, message)
        if image_id is not None:
            sentry_sdk.set_tag("image_id", image_id)
