"""Bearer-token authentication for every route but the health check and the page itself."""

import hashlib
import hmac
from urllib.parse import parse_qs

from . import limits
from .direct_uploads import LOCAL_FORM_PATH
from .responses import error_response

#: Open without a token: the load balancer's probe, the page (whose API calls carry it), and
#: the local stand-in for a presigned upload form (its unguessable key is its credential).
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/", LOCAL_FORM_PATH})


class TokenAuth:
    """ASGI middleware: 401 JSON unless ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``.

    The query form exists for EventSource and <img>, which cannot set headers. A pure ASGI
    middleware rather than BaseHTTPMiddleware, so SSE responses stream through untouched.

    The token is ``settings.api_token`` of the app (read at start-up by its lifespan); an empty
    one turns authentication off. A good token names the client for the abuse limits
    (``scope["imagepipe.client"]``). A wrong one counts against its address; over
    ``web_auth_failure_rate`` the address is held: 429 with Retry-After, its credentials not
    even checked (web/limits.py). A request with no credential is a plain 401, not counted.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        token = scope["app"].state.settings.api_token.encode() if scope["type"] == "http" else b""
        if not token or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented:
            refusal = await limits.auth_held(scope)
            if refusal is None:
                if any(hmac.compare_digest(given, token) for given in presented):
                    scope["imagepipe.client"] = "token:" + hashlib.sha256(token).hexdigest()[:16]
                    await self.app(scope, receive, send)
                    return
                refusal = await limits.note_auth_failure(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        response = error_response(401, "authentication required: send Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    @staticmethod
    def _presented(scope):
        """The credentials the request presents: its bearer token, else its ``?token=`` values."""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return [value[7:].strip()]
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        return [value.encode() for value in given]
