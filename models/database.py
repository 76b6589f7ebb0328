"""The database handle shared by every model, bound to ``DATABASE_URL`` at run time.

Models are declared against a proxy so that importing them opens nothing; ``bind_database``
picks the real database once per process (CLI start, worker process boot, test set-up).
"""

import logging

import peewee
from playhouse.db_url import connect

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

#: SQLite settings that make one file safe for several worker processes: WAL lets readers run
#: beside the one writer, and the busy timeout (ms) makes writers wait instead of failing.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 15_000,
    "synchronous": "normal",
    "foreign_keys": 1,
}


#: Pooled PostgreSQL connections per process: one per worker thread, with room for the CLI.
POSTGRES_POOL_SIZE = 32
#: Seconds after which an idle pooled connection is closed instead of reused.
POSTGRES_STALE_TIMEOUT_S = 300


def open_database(url):
    """A peewee database for ``url`` (sqlite:///path or postgres://user@host/name).

    PostgreSQL connections are pooled: connections are opened and closed around every message,
    and without a pool each of those would be a new TCP connection and authentication.
    """
    if url.startswith("sqlite"):
        return connect(url, pragmas=SQLITE_PRAGMAS, timeout=SQLITE_PRAGMAS["busy_timeout"] / 1000)
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        url = f"postgresql+pool://{rest}"
        return connect(url, max_connections=POSTGRES_POOL_SIZE, stale_timeout=POSTGRES_STALE_TIMEOUT_S)
    return connect(url)


def bind_database(url):
    """Point every model at the database for ``url``; no connection is opened yet."""
    db = open_database(url)
    database.initialize(db)
    log.debug("database bound to %s", type(db).__name__)
    return db


def write_transaction():
    """A transaction that takes SQLite's write lock when it begins, waiting out the busy
    timeout: a deferred one whose first write also reads (the FTS5 index's triggers do) can
    get "database is locked" at once while another process writes."""
    db = database.obj
    return db.atomic("IMMEDIATE") if isinstance(db, peewee.SqliteDatabase) else db.atomic()
