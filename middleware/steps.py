"""Keeping each image's step rows in step with its messages."""

import dramatiq
from dramatiq.logging import get_logger
from dramatiq.middleware import SkipMessage

from models import Image, fail_step, finish_step, record_step_error, start_step


def describe_error(exception):
    """The reason stored on a failed image: the message of an imagepipe error, else type: text."""
    if getattr(exception, "permanent", False):
        return str(exception)
    return f"{type(exception).__name__}: {exception}"


class StepTracking(dramatiq.Middleware):
    """Records step state for actors declared with ``step="name"`` (first argument: image id).

    Before a message runs, its step becomes ``processing`` and its attempt is counted; a step
    that is already done is skipped, so a redelivered or replayed message repeats no work.
    After it runs, the step is done (and the image ``completed`` once all are), or, when the
    message has failed for good, the step and image are ``failed`` with the reason.

    It must come *before* Retries in the middleware list: ``after_*`` hooks run in reverse
    order, and only after Retries has run is ``message.failed`` final.
    """

    actor_options = {"step"}

    def __init__(self):
        self.logger = get_logger(__name__, type(self))

    def before_process_message(self, broker, message):
        step = self._step(broker, message)
        if not step:
            return
        try:
            started = start_step(message.args[0], step)
        except Image.DoesNotExist:
            return  # the actor fails it with ImageNotFound, a permanent error
        if not started:
            self.logger.info("Skipping %s of image %s: already done.", step, message.args[0])
            raise SkipMessage()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        step = self._step(broker, message)
        if not step:
            return
        image_id = message.args[0]
        if exception is None:
            if finish_step(image_id, step):
                self.logger.info("Image %s completed.", image_id)
        elif message.failed:
            if fail_step(image_id, step, describe_error(exception)):
                self.logger.warning("Image %s failed in %s: %s", image_id, step, exception)
        else:
            record_step_error(image_id, step, describe_error(exception))

    @staticmethod
    def _step(broker, message):
        return broker.get_actor(message.actor_name).options.get("step")
