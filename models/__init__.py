"""The peewee models of imagepipe and the database set-up from ``DATABASE_URL``."""

from .database import bind_database, database
from .dead_letter import DeadLetter, purge_dead_letters
from .description import Description, save_description
from .image import DeletedImage, Image, Step, epoch_s, timestamp
from .lifecycle import (
    cancel_image,
    fail_step,
    finish_step,
    give_back_attempt,
    image_cancelled,
    postpone_step,
    record_progress,
    record_step_error,
    register_image,
    reopen_step,
    requeue_step,
    retry_image,
    start_step,
    unended_attempts,
    waiting_after,
    was_deleted,
)
from .outbox import PendingEvent, forget_events, pending_events
from .outputs import Embedding, Metadata, Variant, save_embedding, save_metadata, save_variants
from .schema import MODELS, migrate_schema
from .sweep import stuck_steps, touch_step
from .timeline import step_timeline
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
    "cancel_image",
    "claim_upload",
    "fail_step",
    "forget_events",
    "finish_step",
    "give_back_attempt",
    "image_cancelled",
    "postpone_step",
    "issue_upload",
    "purge_dead_letters",
    "record_progress",
    "record_step_error",
    "register_image",
    "reopen_step",
    "requeue_step",
    "retry_image",
    "save_description",
    "save_embedding",
    "save_metadata",
    "save_variants",
    "start_step",
    "step_timeline",
    "stuck_steps",
    "touch_step",
    "unended_attempts",
    "waiting_after",
    "was_deleted",
    "database",
    "epoch_s",
    "timestamp",
    "migrate_schema",
    "pending_events",
]
