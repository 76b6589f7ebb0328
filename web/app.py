"""The ASGI app: ``uvicorn web.app:app``. Building it does no I/O; the lifespan connects."""

import contextlib
import html
import json
import logging
from importlib import resources

import redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse
from starlette.routing import Route

from imagepipe.graph import PIPELINE
from imagepipe.redaction import guard_loggers
from imagepipe.settings import get_settings
from imagepipe.storage import bind_storage, get_storage, open_storage
from models import bind_database

from . import (
    dead_letters,
    direct_uploads,
    events,
    health,
    images,
    limits,
    maintenance,
    media,
    operations,
    search,
    signin,
)
from .auth import Access
from .headers import SecurityHeaders, page_policy
from .responses import error_response, http_error
from .same_origin import SameOriginWrites
from .signing import media_signer

logger = logging.getLogger(__name__)
#: uvicorn's loggers, whose records do not propagate: the access log writes every URL served.
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


async def page(request):
    state = request.app.state
    return HTMLResponse(state.page, headers={"Content-Security-Policy": state.page_csp})


def _page():
    """The page, with the pipeline's actors (imagepipe.graph) written in for its progress bars."""
    steps = html.escape(json.dumps([step.actor for step in PIPELINE]))
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8").replace("__STEPS__", steps)


async def server_error(request, exc):
    logger.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


def create_app(settings=None, *, bind=True):
    """The web app for ``settings`` (the environment's by default, read at start-up).

    ``bind=False`` leaves the models' database and the storage as the caller bound them (tests
    that share them with an in-process worker).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.settings = current = settings or get_settings()
        guard_loggers(SERVER_LOGGERS, secrets=(current.api_token, current.read_token))
        if bind:
            bind_database(current.database_url)
            bind_storage(open_storage(current.storage_url, public_url=current.public_url))
        # One connection per stream read that may run at once: redis-py's default pool raises
        # past 100 connections, which broke every stream beyond the hundredth.
        app.state.redis = redis.Redis.from_url(current.events_redis_url, max_connections=events.MAX_CONCURRENT_READS)
        app.state.limits = limits.Limiter(current)
        app.state.event_readers = events.event_limiter()
        app.state.activity = operations.activity_reader(current)
        app.state.page = _page()
        # From the final text, so that the hashes always match what is served.
        app.state.page_csp = page_policy(app.state.page, get_storage().origins())
        app.state.media_signer = media_signer(current)
        try:
            yield
        finally:
            app.state.redis.close()
            await app.state.limits.close()

    routes = [
        Route("/", page, methods=["GET"]),
        *health.routes,
        *images.routes,
        *direct_uploads.routes,
        *events.routes,
        *dead_letters.routes,
        *media.routes,
        *search.routes,
        *operations.routes,
        *signin.routes,
        *maintenance.routes,
    ]
    return _App(
        routes=routes,
        # Body limits outermost: an oversized body is refused before anything else runs.
        middleware=[Middleware(limits.BodyLimits), Middleware(SameOriginWrites), Middleware(Access)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )


class _App(Starlette):
    """Starlette with the security headers outside even its ServerErrorMiddleware (which the
    ``middleware`` list cannot reach), so that a 500 carries them too."""

    def build_middleware_stack(self):
        return SecurityHeaders(super().build_middleware_stack())


#: For ``uvicorn web.app:app``; settings are read and connections made when it starts.
app = create_app()
