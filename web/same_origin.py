"""CSRF: a write that another site's page makes the browser send is refused.

The session cookie is SameSite=Strict already; this is the second wall, and it also guards an
app whose authentication is off. A browser says where a request comes from: ``Sec-Fetch-Site``
(every current browser), else ``Origin``. Either naming another site refuses the write; a
request with neither is not a browser's (curl, a program) and passes, as its credential must
then be a bearer token, which no other site can make a browser send.
"""

from urllib.parse import urlsplit

from .asgi import HttpMiddleware
from .auth import SAFE_METHODS
from .responses import error_response

#: Sec-Fetch-Site values of a request this app's own page (or the user, typing) made.
OWN_SITE = frozenset({b"same-origin", b"none"})


class SameOriginWrites(HttpMiddleware):
    """ASGI middleware: 403 for a write (POST, PUT, PATCH, DELETE) from another origin."""

    async def http(self, scope, receive, send):
        if scope["method"] not in SAFE_METHODS and cross_site(dict(scope["headers"])):
            response = error_response(403, "cross-site request refused: writes must come from this app's own page")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def cross_site(headers):
    """Whether the browser says the request comes from another origin.

    ``Origin`` is compared by host and port only: behind a TLS-terminating proxy the app may
    see http where the browser saw https.
    """
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in OWN_SITE
    origin = headers.get(b"origin")
    if origin is None:
        return False
    return origin == b"null" or urlsplit(origin.decode("latin-1")).netloc.encode("latin-1") != headers.get(b"host")
