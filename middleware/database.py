"""Per-thread database connections for worker processes."""

import dramatiq
from dramatiq.logging import get_logger

from models import bind_database, database


class DatabaseConnections(dramatiq.Middleware):
    """Binds the models to ``DATABASE_URL`` when a worker process boots and opens a connection
    around each message (peewee connections are per thread), closing it afterwards so that
    an idle worker holds none.

    Parameters:
      database_url(str): the database to bind, e.g. ``sqlite:///imagepipe.db``.
    """

    def __init__(self, *, database_url):
        self.logger = get_logger(__name__, type(self))
        self.database_url = database_url

    def after_process_boot(self, broker):
        bind_database(self.database_url)

    def before_process_message(self, broker, message):
        database.connect(reuse_if_open=True)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._close()

    def after_skip_message(self, broker, message):
        self._close()

    def before_worker_thread_shutdown(self, broker, thread):
        self._close()

    def _close(self):
        if not database.is_closed():
            database.close()
