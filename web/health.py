"""Probes for a platform: ``/livez`` (the process answers) and ``/readyz`` (it can do its work).

``/readyz`` checks what an upload needs end to end: the database, the broker, and at least one
worker whose heartbeat (middleware/health.py) is fresh, since an upload that no worker takes is
not served. ``/healthz`` answers as ``/readyz`` does, for the Procfile's existing users. Neither
needs a token (probes carry none), so neither says more than which check failed, in one line,
with any URL's password masked.

A dead or silent service must not hang the probe: the checks run at once, each in a thread of
its own small pool (a service that hangs keeps only its own check's threads, never the threads
the routes need), and each gets ``CHECK_TIMEOUT_S`` before it counts as failed.
"""

import contextlib
import logging
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread
import redis
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagepipe.cli.check import ping_broker, problem_of
from imagepipe.redaction import without_url_credentials
from middleware.health import REDIS_TIMEOUT_S, STALE_AFTER_INTERVALS, read_workers
from models import database

logger = logging.getLogger(__name__)

#: Seconds a check may take in all. Above the checks' own socket timeouts (2 s for the broker,
#: 1 s per heartbeat read), which then name the failure themselves; this bounds what has none
#: (a PostgreSQL host that drops packets). A probe's own timeout should be at least 3 s.
CHECK_TIMEOUT_S = 2.5
#: Threads per check: a check that outlives its timeout keeps its thread until its socket gives
#: up, and further probes of that service wait (and time out) instead of taking more threads.
THREADS_PER_CHECK = 2
#: ``scheme://user:password@``: the password of any URL that an error message quotes.
_NO_STORE = {"Cache-Control": "no-store"}


class NotReady(Exception):
    """A service answered, but not as readiness needs (no worker has a fresh heartbeat)."""


async def livez(request):
    """The process answers: no I/O, so a platform restarts only a process that is truly stuck."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


async def readyz(request):
    """200 when every check passes, else 503; either way each check's "ok" or "FAILED: why"."""
    settings = request.app.state.settings
    limiters = _limiters(request.app.state)
    problems = {}

    async def run(name, check, *args):
        problems[name] = await _bounded(limiters[name], check, *args)

    async with anyio.create_task_group() as group:  # at once: the slowest check sets the time
        group.start_soon(run, "database", _database)
        group.start_soon(run, "broker", ping_broker, settings.broker_url)
        group.start_soon(run, "workers", _workers, settings.redis_url, settings.heartbeat_interval_s)
    secrets = [settings.database_url, settings.broker_url, settings.redis_url]
    checks = {
        name: "ok" if problems[name] is None else "FAILED: " + _masked(problems[name], secrets)
        for name in ("database", "broker", "workers")
    }
    failed = {name: text for name, text in checks.items() if text != "ok"}
    if failed:
        logger.warning("not ready: %s", "; ".join(f"{name}: {text}" for name, text in failed.items()))
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503, headers=_NO_STORE)
    return JSONResponse({"status": "ok", "checks": checks}, headers=_NO_STORE)


def _limiters(state):
    """One small thread pool per check, made on the first probe (inside the server's event loop)."""
    if not hasattr(state, "health_limiters"):
        state.health_limiters = {
            name: anyio.CapacityLimiter(THREADS_PER_CHECK) for name in ("database", "broker", "workers")
        }
    return state.health_limiters


async def _bounded(limiter, check, *args):
    """``check(*args)``'s problem (one line) or None, from a thread, within ``CHECK_TIMEOUT_S``."""
    with anyio.move_on_after(CHECK_TIMEOUT_S):
        # abandon_on_cancel: the answer goes out at the deadline; the thread ends with its socket.
        return await anyio.to_thread.run_sync(problem_of, lambda: check(*args), abandon_on_cancel=True, limiter=limiter)
    return f"no answer within {CHECK_TIMEOUT_S:g} s"


def _database():
    """The database the app is bound to answers (``imagepipe check`` binds its own; a probe must not)."""
    with database.connection_context():
        database.execute_sql("SELECT 1")


def _workers(redis_url, interval_s):
    """At least one worker's heartbeat is fresh, as ``imagepipe health`` judges it."""
    client = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    with contextlib.closing(client):
        workers = read_workers(client)
    if not any(not worker["stale"] for worker in workers):
        raise NotReady(f"no worker heartbeat in the last {STALE_AFTER_INTERVALS * interval_s:g} s")


def _masked(text, urls):
    """``text`` without the password of any of ``urls``, nor of any URL it quotes."""
    for url in urls:
        password = urlsplit(url).password
        for form in {password, unquote(password)} if password else ():
            text = text.replace(form, "***")
    return without_url_credentials(text, "***")


routes = [
    Route("/livez", livez, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/healthz", readyz, methods=["GET"]),  # the alias the Procfile's users already probe
]
