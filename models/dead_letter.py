"""Messages that failed for good, kept whole so that they can be inspected and replayed."""

import peewee

from .image import BaseModel, utcnow


class DeadLetter(BaseModel):
    """One message whose retries ran out or whose error was permanent.

    ``image_id`` is a plain column, not a foreign key: a dead letter records what the message
    said, so it must be storable when the image does not exist (ImageNotFound, the usual reason
    for such a message) and must outlive the image's deletion; a foreign key would refuse the
    first and cascade or null the second.
    """

    message_id = peewee.CharField(max_length=64, index=True)
    actor = peewee.CharField(max_length=255)
    queue = peewee.CharField(max_length=255)
    image_id = peewee.IntegerField(null=True, index=True)
    #: The message as the broker carried it (Dramatiq's JSON encoding), options included.
    message = peewee.TextField()
    error_type = peewee.CharField(max_length=255)
    error = peewee.TextField()
    traceback = peewee.TextField()
    #: Deliveries to the actor, the last one included (retries + 1).
    attempts = peewee.IntegerField()
    failed_at = peewee.DateTimeField(default=utcnow, index=True)
    replayed_at = peewee.DateTimeField(null=True)
    replay_count = peewee.IntegerField(default=0)

    class Meta:
        table_name = "dead_letter"


def purge_dead_letters(older_than):
    """Delete the dead letters that failed more than ``older_than`` (a timedelta) ago; their count."""
    return DeadLetter.delete().where(DeadLetter.failed_at < utcnow() - older_than).execute()
