"""Who may do what: the admin and read tokens, as a bearer header or the page's session cookie.

Programs send ``Authorization: Bearer TOKEN``; the page signs in once (``POST /session`` with
that header) and then carries its session cookie (web.sessions), so EventSource and images
need no credential in their URLs. ``?token=`` is refused, with the way to do it instead: a URL
is written to access logs, browser history and Referer headers.

What a route needs follows from its method: reading (GET, HEAD) needs the read scope, which
the admin token has too; anything else needs the admin scope. A new route is thus admin-only
until it is a GET. Opening a session is the one write the read token may do.
"""

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.requests import cookie_parser

from . import limits
from .asgi import HttpMiddleware
from .direct_uploads import LOCAL_FORM_PATH
from .responses import error_response
from .sessions import COOKIE, session_of
from .signing import MEDIA_PREFIX

READ, ADMIN = "read", "admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_PATH = "/session"
#: Open without a credential: the load balancer's probes, the page (it signs in itself), the
#: session's own route (to learn whether to sign in, and to sign out), and the local stand-in
#: for a presigned upload form (its unguessable key is its credential).
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/", LOCAL_FORM_PATH})
#: Writes that the read scope may do: opening its own session.
READ_WRITES = frozenset({("POST", SESSION_PATH)})
TOKEN_IN_URL = (
    "?token= is refused: a credential in a URL is written to access logs and browser history. "
    "Programs: send Authorization: Bearer <token>; people: open the page and sign in."
)
#: Open below these without a credential: a media URL's signature is its credential, checked
#: by web/media.py (a token in an <img> URL would leak into logs and histories).
PUBLIC_PREFIXES = (MEDIA_PREFIX,)


def tokens_of(settings):
    """Each scope's token; an empty one turns that scope off, both empty turn authentication off."""
    return {ADMIN: settings.api_token, READ: settings.read_token}


def needed_scope(method, path):
    return READ if method in SAFE_METHODS or (method, path) in READ_WRITES else ADMIN


class Access(HttpMiddleware):
    """ASGI middleware: 401 without a valid credential, 403 when its scope is too small.

    It leaves the request's ``imagepipe.scope`` and ``imagepipe.client`` (the session or token
    it came with, one client for the abuse limits) in the ASGI scope.

    A wrong bearer token counts against its address; over ``web_auth_failure_rate`` the
    address is held: 429 with Retry-After, its tokens not even checked (web/limits.py). A
    session cookie is an HMAC that cannot be guessed: a bad one is a plain 401, not counted.
    """

    async def http(self, scope, receive, send):
        if b"token" in parse_qs(scope.get("query_string", b"")):
            await error_response(400, TOKEN_IN_URL)(scope, receive, send)
            return
        tokens = tokens_of(scope["app"].state.settings)
        path, method = scope["path"], scope["method"]
        if not any(tokens.values()):
            scope["imagepipe.scope"] = ADMIN
            await self.app(scope, receive, send)
            return
        bearer = bearer_token(scope)
        refusal = None if bearer is None else await limits.auth_held(scope)
        found = None if refusal is not None else credential(scope, tokens)
        if bearer is not None and refusal is None and found is None:
            refusal = await limits.note_auth_failure(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if found is not None:
            scope["imagepipe.scope"], scope["imagepipe.client"] = found
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or (path == SESSION_PATH and method != "POST"):
            await self.app(scope, receive, send)
            return
        if found is None:
            response = error_response(401, "authentication required: send Authorization: Bearer <token>, or sign in")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        if needed_scope(method, path) == ADMIN and found[0] != ADMIN:
            await error_response(403, "this needs the admin token: the read token may only look")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def credential(scope, tokens):
    """``(scope, client)`` of the request's bearer token or session cookie, or None.

    The client, for the abuse limits, is the token either way: every sign-in of one token is
    one client, so opening sessions opens no new budget.
    """
    given = bearer_token(scope)
    if given is not None:
        for name, token in tokens.items():
            if token and hmac.compare_digest(given, token.encode()):
                return name, client_of_token(token)
        return None
    session = session_of(session_cookie(scope), tokens)
    return None if session is None else (session[0], client_of_token(tokens[session[0]]))


def client_of_token(token):
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def bearer_token(scope):
    """The token of the request's ``Authorization: Bearer`` header, or None."""
    authorization = dict(scope["headers"]).get(b"authorization", b"")
    return authorization[7:].strip() if authorization[:7].lower() == b"bearer " else None


def session_cookie(scope):
    """The value of the request's session cookie, or None. Parsed leniently (Starlette's
    parser), over every Cookie header: another app's odd cookie must not sign the user out."""
    header = "; ".join(value.decode("latin-1") for name, value in scope["headers"] if name == b"cookie")
    return cookie_parser(header).get(COOKIE)
