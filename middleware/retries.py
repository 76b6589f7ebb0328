"""Retries on an exact doubling schedule, and none for errors that no retry can fix."""

from dramatiq import Retry
from dramatiq.middleware import Retries

from imagepipe.settings import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF_MS


class PipelineRetries(Retries):
    """Dramatiq's Retries with two changes that the pipeline relies on.

    * Backoff is exactly ``backoff * 2**retries`` (2 s, 4 s, 8 s by default). Dramatiq's own
      adds up to 100 % jitter, which makes the schedule untestable and longer than promised.
    * An exception whose class says ``permanent = True`` (corrupt file, unsupported format,
      pixel limit...) fails the message at once instead of spending retries on it.

    Parameters:
      max_retries(int): retries after the first attempt (default 3, so 4 attempts at most).
      backoff(int): the first retry's delay in milliseconds (default 2000).
    """

    def __init__(self, *, max_retries=DEFAULT_MAX_RETRIES, backoff=DEFAULT_RETRY_BACKOFF_MS):
        super().__init__(max_retries=max_retries, min_backoff=backoff)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None and getattr(exception, "permanent", False):
            self.logger.info("Not retrying message %r: %s", message.message_id, exception)
            message.fail()
            return
        if exception is not None and not isinstance(exception, Retry):
            delay = self.min_backoff * 2 ** message.options.get("retries", 0)
            exception = Retry(str(exception), delay=delay)
        super().after_process_message(broker, message, result=result, exception=exception)
