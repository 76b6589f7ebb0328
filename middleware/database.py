"""Per-thread database connections for worker processes."""

import dramatiq
import peewee
from dramatiq.logging import get_logger

from models import bind_database, database


class DatabaseConnections(dramatiq.Middleware):
    """Binds the models to ``DATABASE_URL`` when a worker process boots, and manages the
    per-thread connection that peewee opens on a thread's first query.

    The connection is kept between messages: reopening it for every message (a new SQLite
    handle and its pragmas, or a pool round trip) cost more than a no-op job itself. It is
    dropped after a message that failed with a database error, so that a connection broken by
    a database restart is replaced instead of failing every later message, and when the
    worker thread stops.

    Parameters:
      database_url(str): the database to bind, e.g. ``sqlite:///imagepipe.db``.
    """

    def __init__(self, *, database_url):
        self.logger = get_logger(__name__, type(self))
        self.database_url = database_url

    def after_process_boot(self, broker):
        bind_database(self.database_url)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if isinstance(exception, peewee.PeeweeException):
            self._close()

    def before_worker_thread_shutdown(self, broker, thread):
        self._close()

    def _close(self):
        if not database.is_closed():
            database.close()
