"""``imagepipe migrate``: create or upgrade the tables (the Procfile's release step)."""

from models import bind_database, migrate_schema

NAME = "migrate"
HELP = "create or upgrade the database tables; safe to run again"


def add_arguments(parser):
    pass


def run(args, settings):
    bind_database(settings.database_url)
    changes = migrate_schema()
    print(f"migrated: {', '.join(changes)}" if changes else "schema is up to date")
