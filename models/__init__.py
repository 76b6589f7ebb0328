"""The peewee models of imagepipe and the database set-up from ``DATABASE_URL``."""

from .database import bind_database, database
from .dead_letter import DeadLetter, purge_dead_letters
from .description import Description, save_description
from .image import DeletedImage, Image, Step, epoch_s
from .lifecycle import (
    fail_step,
    finish_step,
    give_back_attempt,
    postpone_step,
    record_step_error,
    register_image,
    reopen_step,
    requeue_step,
    start_step,
    unended_attempts,
    waiting_after,
    was_deleted,
)
from .outbox import PendingEvent, forget_events, pending_events
from .outputs import Embedding, Metadata, Variant, save_embedding, save_metadata, save_variants
from .schema import MODELS, migrate_schema
from .sweep import stuck_steps, touch_step
from .uploads import Upload, claim_upload, issue_upload
from .webhooks import GoneWebhook, WebhookDelivery

__all__ = [
    "MODELS",
    "DeadLetter",
    "DeletedImage",
    "Description",
    "Embedding",
    "Image",
    "Metadata",
    "PendingEvent",
    "Step",
    "Upload",
    "Variant",
    "GoneWebhook",
    "WebhookDelivery",
    "bind_database",
    "claim_upload",
    "fail_step",
    "forget_events",
    "finish_step",
    "give_back_attempt",
    "postpone_step",
    "issue_upload",
    "purge_dead_letters",
    "record_step_error",
    "register_image",
    "reopen_step",
    "requeue_step",
    "save_description",
    "save_embedding",
    "save_metadata",
    "save_variants",
    "start_step",
    "stuck_steps",
    "touch_step",
    "unended_attempts",
    "waiting_after",
    "was_deleted",
    "database",
    "epoch_s",
    "migrate_schema",
    "pending_events",
]
