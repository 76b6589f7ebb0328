"""Where sources and variants live: the local disk (the default) or an S3-compatible bucket.

``IMAGEPIPE_STORAGE_URL`` picks the backend: ``file:///absolute/path`` (default: MEDIA_ROOT)
or ``s3://bucket/optional/prefix``. Every read and write of an image's files goes through the
process's storage (``get_storage()``), so web and workers need share no disk.
"""

import threading
from urllib.parse import unquote, urlsplit

from .base import Storage
from .keys import IMMUTABLE, content_type, safe_name, source_key, variant_key, variant_prefix
from .local import LocalStorage

__all__ = [
    "IMMUTABLE",
    "LocalStorage",
    "Storage",
    "bind_storage",
    "content_type",
    "get_storage",
    "open_storage",
    "safe_name",
    "source_key",
    "variant_key",
    "variant_prefix",
]

_lock = threading.Lock()
_bound = None


def open_storage(url, *, public_url=""):
    """The storage that ``url`` names; ValueError for a URL of another kind."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"IMAGEPIPE_STORAGE_URL must be file:///absolute/path, not {url!r}")
        return LocalStorage(unquote(parts.path))
    if parts.scheme == "s3":
        if not parts.netloc or parts.query or parts.password or parts.username:
            raise ValueError("IMAGEPIPE_STORAGE_URL must be s3://bucket/optional/prefix (credentials come from AWS_*)")
        from .s3 import S3Storage  # boto3 is imported only where a bucket is used

        return S3Storage(parts.netloc, unquote(parts.path), public_url=public_url)
    raise ValueError(f"IMAGEPIPE_STORAGE_URL must start with file:// or s3://, not {parts.scheme or url!r}")


def bind_storage(storage):
    """Make ``storage`` (a Storage or a URL) the process's; None goes back to the settings'."""
    global _bound
    _bound = open_storage(storage) if isinstance(storage, str) else storage


def get_storage():
    """The process's storage: the one bound, else the settings', opened on first use."""
    global _bound
    if _bound is None:
        from imagepipe.settings import get_settings

        with _lock:
            if _bound is None:
                settings = get_settings()
                _bound = open_storage(settings.storage_url, public_url=settings.public_url)
    return _bound
