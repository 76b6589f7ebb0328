"""Error reporting to Sentry when ``SENTRY_DSN`` is set: the Dramatiq integration, no PII."""

import functools
import re
import tempfile

import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration

from imagepipe.errors import JobStopped
from imagepipe.redaction import without_credentials

#: What replaces a path under MEDIA_ROOT, a local copy of a stored source, or an object's
#: ``s3://`` location: the image_id tag says which image it was.
MEDIA_PATH = "[media path]"
#: What replaces the user name and password of a URL.
FILTERED = "[Filtered]"

#: A home directory and the user name in it; the rest of the path (site-packages, the app's
#: own modules) stays, because stack frames are useless without it.
_HOME = re.compile(r"(?<![\w.~-])(?:/home/[^/\s'\"]+|/Users/[^/\s'\"]+|/root)(?=[/\s'\"]|$)")


def init_sentry(settings, **options):
    """Start sentry-sdk when ``settings.sentry_dsn`` is set; True when it did.

    Call it before the broker is created: DramatiqIntegration patches ``Broker.__init__`` to
    put its middleware first in every broker made afterwards. It reports every failed
    attempt (not only the final one) except ``Retry``; ``options`` go to ``sentry_sdk.init``
    (tests pass a ``transport``).

    No PII is the SDK's default, and left as such on purpose: sentry-sdk 2.75 deprecates
    ``send_default_pii`` (a DeprecationWarning when given), and passing ``data_collection``
    instead would switch off its EventScrubber (passwords, tokens, cookies by key name).
    """
    if not settings.sentry_dsn:
        return False
    scrub_event = functools.partial(
        scrub,
        media_root=settings.media_root,
        secrets=(settings.openai_api_key, settings.api_token, settings.read_token, settings.webhook_secret),
    )
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        integrations=[DramatiqIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        **options,
    )
    return True


def scrub(event, hint, *, media_root, secrets=()):
    """The event with private data taken out of every string in it (messages, exception values,
    stack frames and their local variables, breadcrumbs, contexts):

    * a path under ``media_root``, under a local copy of a stored source (``$TMPDIR/imagepipe-*``)
      or an ``s3://`` location is replaced whole: these name users' uploads, whose file names
      are theirs;
    * a home directory becomes ``~`` (the user name goes, the rest of the path stays);
    * credentials in URLs (``redis://:pass@``, ``postgres://user:pass@``, ``amqp://...@``),
      a request's ``token=`` or media ``signature=``, bearer headers, session cookies and the
      ``secrets`` (the web tokens, the API key of a remote describer) become ``[Filtered]``.

    A throttled or cancelled job (imagepipe.errors.JobStopped) is no error, and is not reported.
    """
    exception = ((hint or {}).get("exc_info") or (None, None))[1]
    if isinstance(exception, JobStopped):
        return None  # an API's "too many requests", or a cancel: nothing failed
    media = _media_paths(str(media_root).rstrip("/"))
    return _walk(event, functools.partial(_scrub_text, media=media, secrets=[s for s in secrets if s]))


@functools.cache
def _media_paths(media_root):
    """Paths under the roots of stored files: quoted ones up to the closing quote (file names
    may hold spaces), bare ones up to the next space or quote."""
    copies = re.escape(tempfile.gettempdir().rstrip("/")) + r"/imagepipe-\w+"
    root = rf"(?:{re.escape(media_root)}|{copies}|s3://[^/\s'\"]+)"
    return re.compile(rf"(['\"]){root}(?:/[^'\"\n]*)?(?=\1)|{root}(?=[/\s'\"]|$)[^\s'\"]*")


def _scrub_text(text, *, media, secrets=()):
    text = media.sub(lambda match: f"{match[1] or ''}{MEDIA_PATH}", text)
    text = _HOME.sub("~", text)
    return without_credentials(text, secrets, FILTERED)


def _walk(value, scrub_text):
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _walk(item, scrub_text) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_walk(item, scrub_text) for item in value)
    return value
