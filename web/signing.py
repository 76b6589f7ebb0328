"""Keys derived from the configured token, and the signed, expiring URLs of ``/media/``.

An ``<img>`` cannot send a header, and the API token must never travel in a URL (it lands in
logs, histories and Referer headers). So with a token configured a local variant's URL carries
its own credential instead: ``/media/<key>?expires=<unix s>&signature=<hex>``, the signature an
HMAC-SHA256 over ``"<path>\\n<expires>"`` under a key derived from the token. It grants that one
path until that second, and nothing else; S3 storage has its presigned (or public) URLs.

Expiries are rounded up to a grid so that one variant keeps one URL for a while and browsers
can cache it: a URL made now lives between ``expiry_s`` and ``expiry_s + step`` seconds, where
``step`` is a quarter of ``expiry_s`` (at least MIN_GRID_S).
"""

import hashlib
import hmac
import math
import re
import time

#: The purpose under which the media URL key is derived from the token (see derive_key).
MEDIA_PURPOSE = "media urls"
#: The smallest step of the expiry grid.
MIN_GRID_S = 60
MEDIA_PREFIX = "/media/"
#: An expiry as a URL carries it: whole seconds since the epoch, ASCII digits only.
_SECONDS = re.compile(r"[0-9]{1,12}")


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose`` (``"media urls"``, ``"sessions"``...), derived from the
    configured ``secret``: HMAC-SHA256 of the purpose under the secret. Keys for different
    purposes are independent, so a value signed for one is worthless for another."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


class InvalidSignature(Exception):
    """A signed URL refused: its ``reason`` says why, never what the signature should be."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class UrlSigner:
    """Signs and checks expiring URLs of this app's paths.

    Parameters:
      key(bytes): the HMAC key (``derive_key(token, MEDIA_PURPOSE)``).
      expiry_s(float): the shortest lifetime of a URL, in seconds; see the module's docstring.
    """

    def __init__(self, key, *, expiry_s):
        self._key = key
        self.expiry_s = expiry_s
        self.step_s = max(MIN_GRID_S, math.ceil(expiry_s / 4))

    def sign(self, path, *, now=None):
        """``path`` with ``?expires=...&signature=...`` appended (path must have no query)."""
        now = time.time() if now is None else now
        expires = math.ceil((now + self.expiry_s) / self.step_s) * self.step_s
        return f"{path}?expires={expires}&signature={self._signature(path, expires)}"

    def verify(self, path, expires, signature, *, now=None):
        """Raise InvalidSignature unless ``signature`` (str or None) signs ``path`` until
        ``expires`` (the query's string, or None) and that time has not passed."""
        if not expires or not signature:
            raise InvalidSignature("this URL is not signed: ask the API for the image's current URL")
        if not _SECONDS.fullmatch(expires) or not hmac.compare_digest(
            self._signature(path, int(expires)).encode(), signature.encode("utf-8", "replace")
        ):
            raise InvalidSignature("bad signature for this URL")
        if int(expires) <= (time.time() if now is None else now):
            raise InvalidSignature("this URL has expired: ask the API for the image's current URL")

    def _signature(self, path, expires):
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def media_signer(settings):
    """The signer of ``/media/`` URLs for ``settings``; None when no token is configured
    (authentication off: the URLs stay unsigned and ``/media/`` open)."""
    if not settings.api_token:
        return None
    return UrlSigner(derive_key(settings.api_token, MEDIA_PURPOSE), expiry_s=settings.url_expiry_s)
