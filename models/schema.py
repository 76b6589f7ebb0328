"""Creating and upgrading the tables: ``imagepipe migrate`` (the Procfile's release line)."""

import logging

from playhouse.migrate import SchemaMigrator, migrate

from .database import database
from .dead_letter import DeadLetter
from .description import Description
from .image import DeletedImage, Image, Step
from .outbox import PendingEvent
from .outputs import Embedding, Metadata, Variant
from .search import create_search_index
from .uploads import Upload
from .vectors import create_vector_search
from .webhooks import GoneWebhook, WebhookDelivery

log = logging.getLogger(__name__)

MODELS = (
    Image,
    Step,
    Variant,
    Metadata,
    Embedding,
    Description,
    DeadLetter,
    Upload,
    DeletedImage,
    PendingEvent,
    WebhookDelivery,
    GoneWebhook,
)
#: Unique indexes of earlier versions that now stand in the way: an image had one embedding.
RETIRED_UNIQUE_INDEXES = {"embedding": ("embedding_image_id",)}


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
            changes += _update_indexes(db, migrator, model)
        if create_search_index(db):
            changes.append("search index")
        changes += create_vector_search(db)
    for change in changes:
        log.info("schema: added %s", change)
    return changes


def _update_indexes(db, migrator, model):
    """Drop the model's retired indexes and create those it declares that are missing."""
    table = model._meta.table_name
    existing = {index.name: index.unique for index in db.get_indexes(table)}
    changes = []
    for name in RETIRED_UNIQUE_INDEXES.get(table, ()):
        if existing.get(name):
            migrate(migrator.drop_index(table, name))
            del existing[name]
            changes.append(f"{name} (unique) dropped")
    for index in model._meta.fields_to_index():
        if index._name not in existing:
            db.execute(index.safe(True))
            changes.append(index._name)
    return changes
