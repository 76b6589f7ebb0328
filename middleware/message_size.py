"""A cap on message size: messages carry ids, never payloads."""

import dramatiq
from dramatiq.logging import get_logger
from dramatiq.middleware import MiddlewareError

from imagepipe.errors import PermanentError
from imagepipe.settings import DEFAULT_MAX_MESSAGE_BYTES


class MessageTooLarge(PermanentError, MiddlewareError):
    """An encoded message is larger than IMAGEPIPE_MAX_MESSAGE_BYTES."""


class MessageSizeLimit(dramatiq.Middleware):
    """Refuses messages larger than ``max_bytes`` once encoded.

    The pipeline's messages carry an image id (a few hundred bytes with their options); a
    large one is a bug or an abuse, and Redis would keep every copy of it. Sending one raises
    MessageTooLarge in the sender. One that arrives anyway (sent by code without this
    middleware) fails permanently without running: it is dead-lettered, and the worker goes on.

    Parameters:
      max_bytes(int): the largest encoded message accepted; default 65536.
    """

    def __init__(self, *, max_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        self.logger = get_logger(__name__, type(self))
        self.max_bytes = max_bytes

    def before_enqueue(self, broker, message, delay):
        self._check(message)

    def before_process_message(self, broker, message):
        self._check(message)

    def _check(self, message):
        size = len(message.encode())
        if size > self.max_bytes:
            raise MessageTooLarge(
                f"message of {message.actor_name} is {size:,} bytes, over the {self.max_bytes:,} byte limit"
            )
