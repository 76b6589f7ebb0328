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


def open_database(url):
    """A peewee database for ``url`` (sqlite:///path or postgres://user@host/name)."""
    if url.startswith("sqlite"):
        return connect(url, pragmas=SQLITE_PRAGMAS, timeout=SQLITE_PRAGMAS["busy_timeout"] / 1000)
    return connect(url)


def bind_database(url):
    """Point every model at the database for ``url``; no connection is opened yet."""
    db = open_database(url)
    database.initialize(db)
    log.debug("database bound to %s", type(db).__name__)
    return db
