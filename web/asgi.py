"""The base of the app's own middleware (access, same-origin writes, body limits, headers)."""


class HttpMiddleware:
    """Pure ASGI rather than Starlette's BaseHTTPMiddleware, so SSE responses stream through
    untouched. Other scopes (the lifespan) pass straight through; HTTP requests go to ``http``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope, receive, send):
        raise NotImplementedError
