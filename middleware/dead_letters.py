"""Keeping every message that failed for good, whole, in the database (``imagepipe dead-letters``)."""

import traceback

import dramatiq
from dramatiq.logging import get_logger

from imagepipe.webhooks import DELIVERY_ACTOR
from models import DeadLetter, database
from models.webhooks import record_dead_letter_webhooks

from .steps import SKIPPED_REASON, image_id_of


class DeadLetters(dramatiq.Middleware):
    """Stores each message that failed for good (retries exhausted or a permanent error) as a
    ``DeadLetter`` row: the whole message, its error type and text, traceback and attempts.

    It must come *before* Retries in the middleware list: ``after_*`` hooks run in reverse
    order, and only after Retries has run is ``message.failed`` final. Placed before
    StepTracking as well, it stores the message after the image was marked ``failed``.

    Storing is an observer's job: when the database refuses the row, the failure and the
    message (so that it is not lost) are logged as critical and the worker carries on.

    Parameters:
      events(EventPublisher): publishes ``job-dead-lettered`` with ``dead_letter_id`` for each
        stored message; default none.
      webhook_urls_for(callable): ``Settings.webhook_urls_for``; each dead letter's
        ``dead_letter.created`` deliveries are written with it, in one transaction (none for
        the webhook actor's own: its failure would make a webhook that may fail alike).
        Default none.
    """

    def __init__(self, *, events=None, webhook_urls_for=None):
        self.logger = get_logger(__name__, type(self))
        self.events = events
        self.webhook_urls_for = webhook_urls_for

    def before_process_message(self, broker, message):
        # Retries counts an attempt in the options only for errors that it retries (not for
        # permanent ones), so the delivery number is read before the message runs.
        message._dead_letter_attempt = message.options.get("retries", 0) + 1

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None and message.failed:
            # A poison message (StepKillsItsWorker) was delivered more often than Retries counted.
            message._dead_letter_attempt = getattr(exception, "deliveries", None) or getattr(
                message, "_dead_letter_attempt", 1
            )
            formatted = "".join(traceback.format_exception(exception))
            self._store(broker, message, type(exception).__name__, str(exception), formatted)

    def after_skip_message(self, broker, message):
        if message.failed:  # e.g. AgeLimit: the message expired before it could run
            self._store(broker, message, "MessageExpired", SKIPPED_REASON, "")

    def _store(self, broker, message, error_type, error, formatted_traceback):
        encoded = message.encode().decode()
        try:
            with database.atomic():
                dead_letter = DeadLetter.create(
                    message_id=message.message_id,
                    actor=message.actor_name,
                    queue=message.queue_name,
                    image_id=image_id_of(broker, message),
                    message=encoded,
                    error_type=error_type,
                    error=error,
                    traceback=formatted_traceback,
                    # 1 when an earlier middleware stopped the message before our before hook ran
                    attempts=getattr(message, "_dead_letter_attempt", 1),
                )
                if self.webhook_urls_for is not None and message.actor_name != DELIVERY_ACTOR:
                    record_dead_letter_webhooks(dead_letter, self.webhook_urls_for)
        except Exception:
            self.logger.critical(
                "Could not store dead letter of message %s: %s", message.message_id, encoded, exc_info=True
            )
            return
        # The one line an expected failure (a corrupt upload) leaves at WARNING: its reason, no
        # traceback (that is in the dead letter, and Dramatiq logs it for unexpected errors).
        self.logger.warning(
            "Message %s of %s failed for good after %d attempt(s): %s; stored as dead letter %d.",
            message.message_id,
            message.actor_name,
            dead_letter.attempts,
            error,
            dead_letter.id,
        )
        if self.events is not None:
            self.events.publish("job-dead-lettered", message, dead_letter_id=dead_letter.id)
