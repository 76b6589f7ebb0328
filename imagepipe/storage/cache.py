"""Sources recently read from a bucket, kept on this host's disk for the steps after ingest.

Each step of an image reads its source (ingest, variants, metadata, embed): without a cache
that is four downloads an image. A copy is kept in a folder named by its location's hash, as
a file named by the object's ETag; the next step of any worker process on the host asks the
store with ``If-None-Match`` and, on 304, hard-links the copy instead of downloading it again.

Looking a copy up reads one small folder, whatever the number of copies. The copies are
bounded in bytes, the oldest going first; the full scan that enforces the bound runs once a
process has stored an eighth of the bound since its last one, so that its cost stays a small
fraction of the copying and the copies exceed the bound by at most that much per process.
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
    """Copies of stored objects in ``folder``: one folder a location, holding its newest ETag's."""

    def __init__(self, folder=None, *, max_bytes=DEFAULT_CACHE_BYTES):
        self.folder = Path(folder or Path(tempfile.gettempdir()) / f"imagepipe-sources-{os.getuid()}")
        self.max_bytes = max_bytes
        self._stored_since_scan = max_bytes  # a process's first store scans what earlier ones left

    def lookup(self, location):
        """``(path, etag)`` of the cached copy of ``location``, or None."""
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder / _name(location)) as entries:
            for entry in entries:
                if not entry.name.startswith("."):  # a temporary, not yet a copy
                    return Path(entry.path), base64.urlsafe_b64decode(entry.name).decode()
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
        folder = self.folder / _name(location)
        name = base64.urlsafe_b64encode(etag.encode()).decode()
        while True:  # an eviction may remove the location's folder between these two steps
            folder.mkdir(exist_ok=True)
            temporary = folder / f".{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            try:
                os.link(path, temporary)
                break
            except FileNotFoundError:
                continue
        os.replace(temporary, folder / name)
        with os.scandir(folder) as entries:
            for older in entries:
                if older.name != name and not older.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(older.path)
        self._stored_since_scan += os.stat(path).st_size
        if self._stored_since_scan >= self.max_bytes // 8:
            self._stored_since_scan = 0
            self._evict()

    def _evict(self):
        copies = []
        with os.scandir(self.folder) as folders:
            for folder in folders:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder.path) as entries:
                    for copy in entries:
                        with contextlib.suppress(FileNotFoundError):
                            status = copy.stat()
                            copies.append((status.st_mtime, status.st_size, copy.path))
        total = sum(size for _, size, _ in copies)
        for _, size, path in sorted(copies):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            with contextlib.suppress(OSError):  # still holding a newer copy, or another's temporary
                os.rmdir(os.path.dirname(path))
            total -= size


def _name(location):
    return hashlib.sha256(location.encode()).hexdigest()[:32]
