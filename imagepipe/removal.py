"""Deleting images: their rows, then every object of theirs in storage.

An image still in flight may be deleted: its id is kept (``DeletedImage``), so its remaining
messages are skipped without error (StepTracking), a step already running ends quietly when
its source or rows vanish under it, and variants written meanwhile are deleted.
"""

from imagepipe.storage import get_storage, variant_prefix
from imagepipe.storage.keys import SOURCES_DIR
from models import DeletedImage, Image, Upload, Variant, database
from models.image import utcnow

#: Sources that imagepipe itself stored (uploads, copies made by ``process``); a file that a
#: user registered where it lay in local storage is theirs, and is left alone.
OWNED_SOURCE_DIRS = (f"{SOURCES_DIR}/", "uploads/")


def delete_image(image_id, *conditions):
    """Delete the image's rows and objects; False when there is no such image (or none that
    meets ``conditions``, peewee expressions on Image, tested when it is read and again in the
    deleting transaction)."""
    image = Image.get_or_none(Image.id == image_id, *conditions)
    if image is None:
        return False
    keys = [variant.path for variant in Variant.select(Variant.path).where(Variant.image == image_id)]
    if image.source.startswith(OWNED_SOURCE_DIRS):
        keys.append(image.source)
    # Writes only inside the transaction: SQLite cannot turn a reader into a writer while a
    # worker writes (that fails at once, whatever the busy timeout), but it waits to begin one.
    with database.atomic():
        # The conditions again, under the row's write lock: an image retried since the read stays.
        if conditions and not Image.update(updated_at=utcnow()).where(Image.id == image_id, *conditions).execute():
            return False
        Upload.delete().where(Upload.image == image_id).execute()
        deleted = image.delete_instance(recursive=True)
        if deleted:
            DeletedImage.insert(id=image_id).on_conflict_ignore().execute()
    storage = get_storage()
    storage.delete(keys)
    # Variants a step wrote after the read above, or that no row named: the whole folder.
    storage.delete_prefix(variant_prefix(image_id))
    return bool(deleted)
