"""The images the pipeline works on, and the record of each step of each image."""

import datetime

import peewee

from .database import database


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def epoch_s(naive_utc):
    """Unix seconds of a naive UTC datetime as the models store them."""
    return naive_utc.replace(tzinfo=datetime.UTC).timestamp()


def timestamp(naive_utc):
    """A naive-UTC datetime from the models as ISO 8601 with its zone, or None: what JSON says."""
    return None if naive_utc is None else naive_utc.isoformat(timespec="seconds") + "Z"


class BaseModel(peewee.Model):
    class Meta:
        database = database


class Image(BaseModel):
    """One upload; ``source`` is the storage key of its file (imagepipe.storage)."""

    QUEUED, PROCESSING, COMPLETED, FAILED = "queued", "processing", "completed", "failed"
    CANCELLED = "cancelled"
    #: Where an image ends: nothing runs for it any more.
    ENDED = (COMPLETED, FAILED, CANCELLED)
    #: Given up: its steps do not run (StepTracking skips them) until ``imagepipe retry``.
    GIVEN_UP = (FAILED, CANCELLED)

    source = peewee.CharField(max_length=1024)
    original_name = peewee.CharField(max_length=255, default="")
    status = peewee.CharField(max_length=16, default=QUEUED, index=True)
    error = peewee.TextField(null=True)
    #: Damage the decoder concealed, when IMAGEPIPE_ON_DAMAGE=mark published the image anyway.
    damage = peewee.TextField(null=True)
    sha256 = peewee.CharField(max_length=64, null=True, index=True)
    format = peewee.CharField(max_length=16, null=True)
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    bytes = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)
    completed_at = peewee.DateTimeField(null=True)

    def state(self):
        """Where the image stands, as plain values: what the CLI's and the web's JSON share."""
        return {
            "id": self.id,
            "status": self.status,
            "error": self.error,
            "damage": self.damage,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
        }


class Step(BaseModel):
    """The state of one pipeline step of one image: the database is the source of truth."""

    QUEUED, PROCESSING, DONE, FAILED = "queued", "processing", "done", "failed"
    CANCELLED = "cancelled"

    image = peewee.ForeignKeyField(Image, backref="steps", on_delete="CASCADE")
    name = peewee.CharField(max_length=32)
    status = peewee.CharField(max_length=16, default=QUEUED)
    attempts = peewee.IntegerField(default=0)
    #: Attempts in a row that started and never ended (their process died under them).
    unended = peewee.IntegerField(default=0)
    error = peewee.TextField(null=True)
    started_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    #: The worker process of the latest attempt, ``host:pid`` as its heartbeat names it.
    worker = peewee.CharField(max_length=255, null=True)
    #: The latest attempt's last progress report (imagepipe.progress), kept for clients that poll.
    progress = peewee.FloatField(null=True)
    progress_note = peewee.CharField(max_length=255, null=True)
    progress_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("image", "name"), True), (("status", "started_at"), False))


class DeletedImage(BaseModel):
    """The id of a deleted image: its messages still in flight end quietly, where a message
    for an id that never existed (another database, a bug) is an error worth a dead letter."""

    id = peewee.BigIntegerField(primary_key=True)
    deleted_at = peewee.DateTimeField(default=utcnow)
