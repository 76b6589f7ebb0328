"""Creating and upgrading the tables: ``imagepipe migrate`` (the Procfile's release line)."""

import logging

from playhouse.migrate import SchemaMigrator, migrate

from .database import database
from .dead_letter import DeadLetter
from .image import DeletedImage, Image, Step
from .outbox import PendingEvent
from .outputs import Embedding, Metadata, Variant
from .uploads import Upload

log = logging.getLogger(__name__)

MODELS = (Image, Step, Variant, Metadata, Embedding, DeadLetter, Upload, DeletedImage, PendingEvent)


def migrate_schema():
    """Create missing tables and add missing columns; safe to run any number of times.

    Returns the names of what was created or added, so the CLI can say what it did.
    """
    db = database.obj
    changes = []
    with db.atomic():
        existing = set(db.get_tables())
        missing = [model for model in MODELS if model._meta.table_name not in existing]
        db.create_tables(missing, safe=True)
        changes += [model._meta.table_name for model in missing]
        migrator = SchemaMigrator.from_database(db)
        for model in MODELS:
            if model in missing:
                continue
            table = model._meta.table_name
            columns = {column.name for column in db.get_columns(table)}
            for field in model._meta.sorted_fields:
                if field.column_name not in columns:
                    migrate(migrator.add_column(table, field.column_name, field))
                    changes.append(f"{table}.{field.column_name}")
    for change in changes:
        log.info("schema: added %s", change)
    return changes
