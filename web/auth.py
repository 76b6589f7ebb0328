"""Bearer-token authentication for every route but the health check, the page itself and the
signed media URLs."""

import hmac
from urllib.parse import parse_qs

from .direct_uploads import LOCAL_FORM_PATH
from .responses import error_response
from .signing import MEDIA_PREFIX

#: Open without a token: the load balancer's probe, the page (whose API calls carry it), and
#: the local stand-in for a presigned upload form (its unguessable key is its credential).
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/", LOCAL_FORM_PATH})
#: Open below these without a token: a media URL's signature is its credential, checked by
#: web/media.py (a token in an <img> URL would leak into logs and histories).
PUBLIC_PREFIXES = (MEDIA_PREFIX,)


class TokenAuth:
    """ASGI middleware: 401 JSON unless ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``.

    The query form exists for EventSource, which cannot set headers (images have signed URLs).
    A pure ASGI middleware rather than BaseHTTPMiddleware, so SSE responses stream through.

    The token is ``settings.api_token`` of the app (read at start-up by its lifespan); an empty
    one turns authentication off.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        token = scope["app"].state.settings.api_token.encode() if scope["type"] == "http" else b""
        if not token or _public(scope["path"]) or self._allowed(scope, token):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "authentication required: send Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    @staticmethod
    def _allowed(scope, token):
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), token)
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        return any(hmac.compare_digest(value.encode(), token) for value in given)


def _public(path):
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
