"""The names of stored objects: one place decides where sources and variants live.

Keys are the same in every backend (a path below MEDIA_ROOT, or below the bucket's prefix),
so a row written with local storage names the same object after a move to a bucket.
"""

import hashlib
import re
import secrets
from pathlib import PureWindowsPath

SOURCES_DIR = "sources"
VARIANTS_DIR = "variants"
MAX_NAME_CHARS = 100
#: Random bytes in a source key: an issued upload key is a capability, unguessable.
_SOURCE_TOKEN_BYTES = 16
#: Hex digits of a variant's content hash in its key: enough that a new rendering never
#: reuses the key (and so the cache entry) of an old one.
_VARIANT_HASH_CHARS = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

CONTENT_TYPES = {
    "webp": "image/webp",
    "avif": "image/avif",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "tif": "image/tiff",
    "bmp": "image/bmp",
    "heic": "image/heic",
    "heif": "image/heif",
}
#: A variant's key changes whenever its bytes do, so caches may keep it for ever.
IMMUTABLE = "public, max-age=31536000, immutable"


def safe_name(filename):
    """The last component of a client's file name, reduced to ``[A-Za-z0-9._-]``, never hidden."""
    name = PureWindowsPath(filename or "").name  # also splits on "/": both separators go
    name = _UNSAFE.sub("_", name).lstrip(".")[-MAX_NAME_CHARS:]
    return name or "upload"


def source_key(filename):
    """A fresh, unguessable key for an uploaded source: ``sources/<random>/<safe name>``."""
    return f"{SOURCES_DIR}/{secrets.token_hex(_SOURCE_TOKEN_BYTES)}/{safe_name(filename)}"


def is_source_key(key):
    """Whether ``key`` has the shape of a key that source_key() issues (nothing else is confirmed)."""
    parts = key.split("/")
    return (
        len(parts) == 3
        and parts[0] == SOURCES_DIR
        and len(parts[1]) == 2 * _SOURCE_TOKEN_BYTES
        and all(c in "0123456789abcdef" for c in parts[1])
        and parts[2] == safe_name(parts[2])
    )


def variant_prefix(image_id):
    """Every variant of an image lies below this: one prefix to delete them all."""
    return f"{VARIANTS_DIR}/{image_id}/"


def variant_key(image_id, width, fmt, data):
    """``variants/<image>/<width>-<content hash>.<fmt>``: a redelivery that renders the same
    bytes rewrites the same key; different bytes get a new key, never a stale cache entry."""
    digest = hashlib.sha256(data).hexdigest()[:_VARIANT_HASH_CHARS]
    return f"{variant_prefix(image_id)}{width}-{digest}.{fmt}"


def content_type(key):
    """The MIME type of a stored image, from its key's suffix; None for anything else."""
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower()) if "." in key else None
