"""The peewee models of imagepipe and the database set-up from ``DATABASE_URL``."""

from .database import bind_database, database
from .image import Image, Step
from .lifecycle import STEPS, fail_step, finish_step, record_step_error, register_image, start_step
from .outputs import Embedding, Metadata, Variant, save_embedding, save_metadata, save_variants
from .schema import MODELS, migrate_schema

__all__ = [
    "MODELS",
    "STEPS",
    "Embedding",
    "Image",
    "Metadata",
    "Step",
    "Variant",
    "bind_database",
    "fail_step",
    "finish_step",
    "record_step_error",
    "register_image",
    "save_embedding",
    "save_metadata",
    "save_variants",
    "start_step",
    "database",
    "migrate_schema",
]
