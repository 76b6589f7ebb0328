"""Each image's words (imagepipe.description): what full-text search finds it by."""

import peewee

from .database import write_transaction
from .fields import JSONField
from .image import BaseModel, Image, utcnow


class Description(BaseModel):
    """An image's words, one row per image: whichever describer wrote them last (``provider``,
    ``model``), when, and what it cost.

    ``searchable_text``, ``tags``, ``ocr_text`` and ``place_name`` are what search indexes
    (models.search): SQLite's FTS5 or PostgreSQL's tsvector.
    """

    image = peewee.ForeignKeyField(Image, backref="description", unique=True, on_delete="CASCADE")
    provider = peewee.CharField(max_length=32)
    model = peewee.CharField(max_length=255)
    description = peewee.TextField(default="")
    detailed_description = peewee.TextField(default="")
    tags = JSONField(default=list)
    categories = JSONField(default=list)
    objects = JSONField(default=list)
    colors = JSONField(default=list)
    mood = peewee.CharField(max_length=255, default="")
    style = peewee.CharField(max_length=255, default="")
    composition = peewee.TextField(default="")
    searchable_text = peewee.TextField(default="")
    ocr_text = peewee.TextField(default="")
    #: Face boxes [x, y, width, height] in pixels of the upright original.
    faces = JSONField(default=list)
    face_count = peewee.IntegerField(default=0)
    place = JSONField(default=dict)
    #: "City, Region, Country" of ``place``: what search matches.
    place_name = peewee.CharField(max_length=255, default="")
    kind = peewee.CharField(max_length=16, default="")
    prompt_tokens = peewee.IntegerField(null=True)
    completion_tokens = peewee.IntegerField(null=True)
    cost_usd = peewee.DoubleField(null=True)
    described_at = peewee.DateTimeField(default=utcnow)

    def words(self):
        """The row as plain values, for the CLI's and the web's JSON."""
        fields = dict(self.__data__)
        fields.pop("id", None)
        fields["image"] = fields.pop("image", None)
        fields["described_at"] = self.described_at.isoformat() + "Z" if self.described_at else None
        return fields


def place_name(place):
    """``{"city": "Arezzo", "region": "Tuscany", "country": "Italy"}`` -> "Arezzo, Tuscany, Italy"."""
    parts = [place.get(key) for key in ("city", "region", "country")] if place else []
    return ", ".join(dict.fromkeys(part for part in parts if part))


def save_description(image_id, words):
    """Store ``words`` (imagepipe.description.record.Words) as the image's description,
    replacing an earlier one: a redelivered or redone describe rewrites, never adds."""
    row = dict(words.as_row(), image=image_id, described_at=utcnow())
    row["face_count"] = len(row["faces"])
    row["place_name"] = place_name(row["place"])
    fields = [Description._meta.fields[name] for name in row if name != "image"]
    with write_transaction():
        Description.insert(row).on_conflict(conflict_target=[Description.image], preserve=fields).execute()
