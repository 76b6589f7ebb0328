"""Direct uploads: the keys handed out for a browser to upload to, until an image claims one."""

import datetime

import peewee

from .image import BaseModel, Image, utcnow


class Upload(BaseModel):
    """A source key issued by ``POST /uploads``: only such a key can become an image, once."""

    key = peewee.CharField(max_length=1024, unique=True)
    name = peewee.CharField(max_length=255, default="")
    content_type = peewee.CharField(max_length=64)
    max_bytes = peewee.BigIntegerField()
    expires_at = peewee.DateTimeField()
    image = peewee.ForeignKeyField(Image, null=True, on_delete="SET NULL")
    created_at = peewee.DateTimeField(default=utcnow)

    @property
    def expired(self):
        return utcnow() >= self.expires_at


def issue_upload(key, *, name, content_type, max_bytes, expires_s):
    """Record that ``key`` may be uploaded to (by ``expires_s`` from now) and then confirmed."""
    expires_at = utcnow() + datetime.timedelta(seconds=expires_s)
    return Upload.create(
        key=key, name=name[:255], content_type=content_type, max_bytes=max_bytes, expires_at=expires_at
    )


def claim_upload(upload, image):
    """Tie an issued upload to its image; False when another request claimed it first."""
    return bool(Upload.update(image=image).where(Upload.id == upload.id, Upload.image.is_null()).execute())
