"""The page's session cookie: signed, scoped and expiring, so no credential travels in a URL.

A session is ``v1.<scope>.<expires>.<signature>``, the signature an HMAC under a key derived
from the token of its scope (web.signing): rotating a token ends the sessions it opened, and
nothing is stored server-side. For the abuse limits a session is its token (web.auth), so
signing in again opens no new budget. The cookie is HttpOnly (script cannot read it), SameSite=Strict (no other
site's request carries it), Secure when the request came over HTTPS, and expires with the
session.
"""

import base64
import hmac
import math
import time

from .signing import derive_key

COOKIE = "imagepipe_session"
_VERSION = "v1"
_PURPOSE = "session cookies"


def session_value(scope, token, ttl_s, now=None):
    """A new session of ``scope`` opened with ``token``, valid ``ttl_s`` from ``now``."""
    expires = math.ceil((time.time() if now is None else now) + ttl_s)  # at least ttl_s
    body = f"{_VERSION}.{scope}.{expires}"
    return f"{body}.{_signature(body, token)}"


def session_of(value, tokens, now=None):
    """``(scope, expires)`` of a valid cookie value, else None.

    ``tokens`` maps each scope to its token (an empty token: that scope is off). Compared as
    bytes: a cookie may hold any character, and comparing non-ASCII text raises.
    """
    body, _, signature = (value or "").rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not (parts[2].isascii() and parts[2].isdigit()):
        return None
    _, scope, expires = parts
    token = tokens.get(scope)
    given = signature.encode("utf-8", "surrogateescape")
    if not token or not hmac.compare_digest(given, _signature(body, token).encode()):
        return None
    if int(expires) <= (time.time() if now is None else now):
        return None
    return scope, int(expires)


def cookie_header(value, *, max_age_s, secure):
    """The ``Set-Cookie`` header for ``value`` (an empty value and 0 s end the session)."""
    attributes = [f"{COOKIE}={value}", "Path=/", f"Max-Age={int(max_age_s)}", "HttpOnly", "SameSite=Strict"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def _signature(body, token):
    digest = hmac.digest(derive_key(token, _PURPOSE), body.encode(), "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
