"""Sources recently read from a bucket, kept on this host's disk for the steps after ingest.

Each step of an image reads its source (ingest, variants, metadata, embed): without a cache
that is four downloads an image. A copy is kept under its location's hash with the object's
ETag in its name; the next step of any worker process on the host asks the store with
``If-None-Match`` and, on 304, hard-links the copy instead of downloading it again. The copies
are bounded in bytes; the oldest go first.
"""

import base64
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

#: What the cached copies of one host may take on its disk together.
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


class SourceCache:
    """Copies of stored objects in ``folder`` (one a location, the newest ETag's)."""

    def __init__(self, folder=None, *, max_bytes=DEFAULT_CACHE_BYTES):
        self.folder = Path(folder or Path(tempfile.gettempdir()) / f"imagepipe-sources-{os.getuid()}")
        self.max_bytes = max_bytes

    def lookup(self, location):
        """``(path, etag)`` of the cached copy of ``location``, or None."""
        for path in self.folder.glob(f"{_name(location)}.*"):
            with contextlib.suppress(ValueError):
                return path, base64.urlsafe_b64decode(path.suffix[1:]).decode()
        return None

    def link(self, cached, target):
        """Put the cached copy at ``target``; False when it was evicted meanwhile."""
        try:
            os.link(cached, target)  # the copy stays whole for this step, even if evicted now
        except FileNotFoundError:
            return False
        return True

    def store(self, location, path, etag):
        """Keep the file at ``path`` as the copy of ``location`` at ``etag``; then evict."""
        self.folder.mkdir(mode=0o700, exist_ok=True)
        name = _name(location)
        final = self.folder / f"{name}.{base64.urlsafe_b64encode(etag.encode()).decode()}"
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.link(path, temporary)
        os.replace(temporary, final)
        for older in self.folder.glob(f"{name}.*"):
            if older != final:
                older.unlink(missing_ok=True)
        self._evict()

    def _evict(self):
        copies = []
        for path in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                status = path.stat()
                copies.append((status.st_mtime, status.st_size, path))
        total = sum(size for _, size, _ in copies)
        for _, size, path in sorted(copies):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def _name(location):
    return hashlib.sha256(location.encode()).hexdigest()[:32]
