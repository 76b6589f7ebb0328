"""Running peewee work from async routes: in a worker thread, inside its own connection."""

import functools

from starlette.concurrency import run_in_threadpool

from models import database


async def in_database(function, *args, **kwargs):
    """``function(*args, **kwargs)`` in Starlette's thread pool, with a connection opened and
    closed around it (a peewee connection belongs to one thread, and pool threads are shared)."""
    return await run_in_threadpool(functools.partial(_with_connection, function, *args, **kwargs))


def _with_connection(function, *args, **kwargs):
    with database.connection_context():
        return function(*args, **kwargs)
