"""The security headers of every response, and the page's own Content-Security-Policy.

Every response gets ``nosniff``, ``no-referrer``, ``X-Frame-Options: DENY`` and, unless it set
its own, a CSP that allows nothing (JSON and errors are never documents). The page's CSP
allows its one inline ``<script>`` and ``<style>`` by their SHA-256 hashes, computed from the
page as served, so no other inline script or style (an injected one) runs; images and
connections go to this origin and to the storage's (a bucket's presigned URLs and forms).
"""

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders

from .asgi import HttpMiddleware

#: A response that sets no CSP of its own (JSON, errors) may load and be framed by nothing.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": DEFAULT_CSP,
}
#: Sent only over https (a browser ignores it over http, and a local http server must stay usable).
HSTS = "max-age=31536000"
_INLINE = {"script": re.compile(r"<script>(.*?)</script>", re.S), "style": re.compile(r"<style>(.*?)</style>", re.S)}


def over_https(scope):
    """Whether the browser reached the app over HTTPS: the request's scheme (behind a proxy,
    uvicorn's from ``X-Forwarded-Proto`` when FORWARDED_ALLOW_IPS trusts it), or always with
    IMAGEPIPE_HTTPS=1 (a platform whose router's addresses cannot be listed)."""
    return scope.get("scheme") == "https" or scope["app"].state.settings.https


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware: adds HEADERS (and HSTS over https) to every HTTP response, keeping any
    of them the response set itself."""

    async def http(self, scope, receive, send):
        secure = over_https(scope)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if secure:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def page_policy(page, origins=()):
    """The CSP of ``page`` (its final HTML): its inline script and style by hash, images and
    connections to this origin and ``origins`` (the storage's, see ``Storage.origins``)."""
    allowed = " ".join(("'self'", *origins))
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {inline_hashes(page, 'script')}",
            f"style-src {inline_hashes(page, 'style')}",
            f"img-src {allowed} data:",
            f"connect-src {allowed}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def inline_hashes(page, tag):
    """The CSP sources (``'sha256-...'``) of every inline ``<tag>`` element of ``page``."""
    found = _INLINE[tag].findall(page)
    if not found:
        return "'none'"
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'" for text in found)
