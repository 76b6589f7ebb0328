"""What a tile shows of an image's variants: its thumbnail and what the variants save.

Shared by the gallery (``GET /images``) and the search hits, in one query per page of images.
"""

from models import Variant

#: The variant shown as a thumbnail: the smallest WebP, which every browser shows.
THUMBNAIL_FORMAT = "webp"


def previews(image_ids, url, source_bytes=None):
    """``{image id: {"thumbnail", "saved_bytes"}}`` for the images that have variants.

    ``saved_bytes`` is the source's bytes minus the smallest file at the largest width: what
    serving the full-size variant instead of the upload saves (negative when it is larger).
    ``source_bytes`` maps id -> the source's bytes (None, or left out, when unknown).
    """
    variants = Variant.select(Variant.image, Variant.format, Variant.width, Variant.bytes, Variant.path).where(
        Variant.image.in_(list(image_ids))
    )
    by_image = {}
    for variant in variants:
        by_image.setdefault(variant.image_id, []).append(variant)
    return {image_id: _preview(rows, (source_bytes or {}).get(image_id), url) for image_id, rows in by_image.items()}


def _preview(variants, source_bytes, url):
    webps = [variant for variant in variants if variant.format == THUMBNAIL_FORMAT]
    thumbnail = min(webps, key=lambda variant: variant.width) if webps else None
    widest = max(variant.width for variant in variants)
    full_size = min(variant.bytes for variant in variants if variant.width == widest)
    return {
        "thumbnail": None if thumbnail is None else url(thumbnail.path),
        "saved_bytes": None if source_bytes is None else source_bytes - full_size,
    }
