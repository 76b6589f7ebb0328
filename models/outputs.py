"""What the pipeline makes of an image: variants, metadata and an embedding."""

import peewee

from .database import database
from .fields import JSONField
from .image import BaseModel, Image, utcnow


class Variant(BaseModel):
    """One resized, re-encoded file; ``path`` is its storage key (imagepipe.storage.keys)."""

    image = peewee.ForeignKeyField(Image, backref="variants", on_delete="CASCADE")
    label = peewee.CharField(max_length=32)
    format = peewee.CharField(max_length=8)
    width = peewee.IntegerField()
    height = peewee.IntegerField()
    bytes = peewee.IntegerField()
    path = peewee.CharField(max_length=1024)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("image", "width", "format"), True),)


class Metadata(BaseModel):
    """What can be read from an image without a network: EXIF, colour, fingerprints."""

    image = peewee.ForeignKeyField(Image, backref="metadata", unique=True, on_delete="CASCADE")
    width = peewee.IntegerField(null=True)
    height = peewee.IntegerField(null=True)
    format = peewee.CharField(max_length=16, null=True)
    mode = peewee.CharField(max_length=16, null=True)
    has_alpha = peewee.BooleanField(default=False)
    frames = peewee.IntegerField(default=1)
    camera_make = peewee.CharField(max_length=128, null=True)
    camera_model = peewee.CharField(max_length=128, null=True, index=True)
    lens = peewee.CharField(max_length=128, null=True)
    taken_at = peewee.DateTimeField(null=True, index=True)
    exposure_time = peewee.CharField(max_length=32, null=True)
    f_number = peewee.FloatField(null=True)
    iso = peewee.IntegerField(null=True)
    focal_length_mm = peewee.FloatField(null=True)
    gps_latitude = peewee.DoubleField(null=True)
    gps_longitude = peewee.DoubleField(null=True)
    icc_description = peewee.CharField(max_length=255, null=True)
    dominant_colors = JSONField(null=True)
    average_color = peewee.CharField(max_length=7, null=True)
    blurhash = peewee.CharField(max_length=64, null=True)
    phash = peewee.CharField(max_length=16, null=True, index=True)
    summary = peewee.TextField(default="")


class Embedding(BaseModel):
    """An L2-normalised vector stored as little-endian float32 bytes: one per image and
    model (the pixel vector, and the searchable text's when a text embedder is set)."""

    image = peewee.ForeignKeyField(Image, backref="embeddings", on_delete="CASCADE")
    model = peewee.CharField(max_length=64, index=True)
    dims = peewee.IntegerField()
    vector = peewee.BlobField()

    class Meta:
        indexes = ((("image", "model"), True),)


def _upsert(model, rows, conflict_target):
    """Insert ``rows`` or overwrite the rows they collide with: redelivery rewrites, never adds."""
    fields = [model._meta.fields[name] for name in rows[0] if name not in conflict_target]
    model.insert_many(rows).on_conflict(
        conflict_target=[model._meta.fields[name] for name in conflict_target], preserve=fields
    ).execute()


def save_variants(image_id, rows):
    """Make ``rows`` the image's variants: upsert them and drop any left from an older run.

    Returns the storage keys that no row names any more, for the caller to delete: an older
    rendering's, or all of ``rows``' when the image was deleted while they were being made.
    """
    # Read before the transaction, which then starts with a write: SQLite cannot turn a
    # reader into a writer while another process writes (SQLITE_BUSY at once, whatever the
    # busy timeout), but it does wait to begin a write.
    if not Image.select().where(Image.id == image_id).exists():
        return [row["path"] for row in rows]
    before = {variant.path for variant in Variant.select(Variant.path).where(Variant.image == image_id)}
    with database.atomic():
        _upsert(Variant, [dict(row, image=image_id) for row in rows], ("image", "width", "format"))
        kept = [(row["width"], row["format"]) for row in rows]
        stale = [v.id for v in Variant.select().where(Variant.image == image_id) if (v.width, v.format) not in kept]
        if stale:
            Variant.delete().where(Variant.id.in_(stale)).execute()
    return sorted(before - {row["path"] for row in rows})


def save_metadata(image_id, fields):
    """Store what ``imagepipe.imaging.describe`` found, replacing an earlier run's row."""
    _upsert(Metadata, [dict(fields, image=image_id)], ("image",))


def save_embedding(image_id, model, dims, vector):
    """Store the image's vector of ``model`` (float32 bytes), replacing an earlier run's row."""
    _upsert(Embedding, [{"image": image_id, "model": model, "dims": dims, "vector": vector}], ("image", "model"))
