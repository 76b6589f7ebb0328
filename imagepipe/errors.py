"""The errors of imagepipe.

Whether an error is worth a retry is a property of its class (``permanent``), so the retry
middleware reads it instead of keeping a list of exception types.
"""


def first_line(exception):
    """The first line of an exception's message, or its class name when it has none: a
    one-line reason for a log line or a check, never a traceback."""
    lines = str(exception).strip().splitlines()
    return lines[0] if lines else type(exception).__name__


class ImagePipeError(Exception):
    """Root of every error that imagepipe raises on purpose."""

    permanent = False


class TransientError(ImagePipeError):
    """A failure that may succeed on a later attempt (a busy database, a flaky disk)."""


class PermanentError(ImagePipeError):
    """A failure that no retry can fix: the image fails at once."""

    permanent = True


class ConfigurationError(PermanentError):
    """A setting asks for what this installation cannot do (a describe part whose package is
    not installed): no retry helps until the deployment is fixed, then the dead letters replay."""


class ImageNotFound(PermanentError):
    """No image row has the id a message names."""


class SourceRejected(PermanentError):
    """The source path is missing or resolves outside MEDIA_ROOT."""


class EmptyFile(PermanentError):
    """The source file has no bytes."""


class FileTooLarge(PermanentError):
    """The source file is larger than the configured byte limit."""


class UnsupportedFormat(PermanentError):
    """The file is not an image, or not of an allowed format, or needs a decoder not installed."""


class CorruptImage(PermanentError):
    """The file claims a supported format but its data cannot be decoded."""


class TruncatedImage(CorruptImage):
    """The file ends before its image data does."""


class HiddenPayload(PermanentError):
    """The file is an image and another kind of file too (a ZIP, a PDF, HTML or script)."""


class PixelLimitExceeded(PermanentError):
    """The image has more pixels than the configured limit (or is a decompression bomb)."""

    def __init__(self, message, *, pixels, limit):
        super().__init__(message)
        self.pixels = pixels
        self.limit = limit


class ShapeUnsupported(PermanentError):
    """The image's shape is too extreme for the output formats (a variant over their size limit)."""


class ImageWorkTimedOut(PermanentError):
    """Decoding or encoding ran past the step's hard time limit; its child process was killed."""

    def __init__(self, message, *, timeout_s):
        super().__init__(message)
        self.timeout_s = timeout_s


class ImageWorkCrashed(PermanentError):
    """The child process doing a step's image work died (a decoder segfault, ``os._exit``)."""

    def __init__(self, message, *, exitcode):
        super().__init__(message)
        self.exitcode = exitcode


class ImageWorkAbandoned(TransientError):
    """The worker process is exiting and stopped the child that worked on this image: no
    verdict on the image, so it is worth another attempt."""


class StorageError(ImagePipeError):
    """Reading or writing the configured storage failed (the local disk or an S3 bucket)."""


class StorageUnavailable(StorageError, TransientError):
    """The store did not answer, timed out, throttled us or answered 5xx: worth another attempt."""


class StorageRefused(StorageError, PermanentError):
    """The store refused the request for good: access denied, bucket or key missing."""


class SourceMissing(StorageRefused, SourceRejected):
    """The image's source object is not in the store (never uploaded, or deleted)."""


class JobStopped(ImagePipeError):
    """The job stopped before its end through no fault of its own: no retry is spent, no
    failure counted, no dead letter stored; what stopped it decides what comes next."""


class JobCancelled(JobStopped):
    """The job's image was cancelled (``imagepipe cancel``) while it ran: it stops at its next
    progress call or isolation wait, and its message is done with."""


class Throttled(JobStopped, TransientError):
    """Someone else's budget is spent (an API's 429): the message runs again after ``delay_ms``
    with no retry or attempt spent, and the rate limiter holds back the budget ``key`` (the
    actor's ``rate_limit_key`` when None) for every worker meanwhile."""

    def __init__(self, message, *, delay_ms, key=None):
        super().__init__(message)
        self.delay_ms = delay_ms
        self.key = key


class ProviderError(ImagePipeError):
    """A describing or embedding provider (an OpenAI-compatible API) did not give an answer."""


class ProviderThrottled(ProviderError, Throttled):
    """The provider said "too many requests" (HTTP 429, with Retry-After or its reset headers)."""


class ProviderUnavailable(ProviderError, TransientError):
    """The provider timed out, could not be reached or answered 5xx: worth a retry."""


class ProviderRefused(ProviderError, PermanentError):
    """The provider refused the request for good (400, 401, 403, 404, a content-policy refusal)."""


class ProviderAnswerInvalid(ProviderError, PermanentError):
    """The provider's answer was not the JSON asked for, twice; the raw answer is in the message."""
