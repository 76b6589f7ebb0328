"""Local storage: objects are files below one folder (MEDIA_ROOT), the embedded default."""

import contextlib
import functools
import os
import shutil
import tempfile
from pathlib import Path

from imagepipe.errors import FileTooLarge, SourceMissing, SourceRejected, StorageUnavailable

from .base import Storage

#: The umask assumed where /proc cannot tell (not Linux).
DEFAULT_UMASK = 0o022


class LocalStorage(Storage):
    """Objects as files below ``root``; a key is a path relative to it.

    Nothing resolves outside ``root``: ``..`` and symlinks pointing out are refused.
    """

    scheme = "file"

    def __init__(self, root):
        self.root = Path(root).resolve()

    @property
    def address(self):
        return self.root.as_uri()

    def location(self, key):
        return key

    def path(self, key):
        """The checked absolute path of ``key`` (which need not exist yet)."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise SourceRejected(f"source {Path(key).name!r} resolves outside MEDIA_ROOT")
        return path

    def key_of(self, path):
        path = Path(path).resolve()
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else None

    def put(self, key, body, *, content_type, cache_control=None):
        with _classified(key):
            write_atomically(self.path(key), body)

    @contextlib.contextmanager
    def local_copy(self, key, *, max_bytes):
        path = self.path(key)
        if not path.is_file():
            raise SourceMissing(f"source file not found: {path.name}")
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLarge(f"file is {size:,} bytes, over the {max_bytes:,} byte limit")
        yield path  # already local: no copy

    def exists(self, key):
        return self.path(key).is_file()

    def keys(self, prefix=""):
        folder = self.root / prefix if prefix.endswith("/") or not prefix else (self.root / prefix).parent
        found = (path.relative_to(self.root).as_posix() for path in folder.rglob("*") if path.is_file())
        return sorted(key for key in found if key.startswith(prefix) and not Path(key).name.startswith("."))

    def delete(self, keys):
        for key in keys:
            with _classified(key):
                self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix):
        # Folders go too: an image's variants folder, not only the files in it.
        folder = self.path(prefix)
        with _classified(prefix), contextlib.suppress(FileNotFoundError):
            shutil.rmtree(folder)


@contextlib.contextmanager
def _classified(key):
    """A disk error as StorageUnavailable: full, busy or flaky disks recover, so it is retried."""
    try:
        yield
    except OSError as exc:
        raise StorageUnavailable(f"cannot change {key}: {exc.strerror or exc}") from exc


def write_atomically(path, body):
    """Write ``body`` (bytes or a binary file object) to a temporary name beside ``path`` and
    rename it into place.

    A reader never sees half a file, and a redelivered message simply replaces the file. The
    data is flushed to disk before the rename, so a crash cannot leave a renamed empty file
    behind a row that says the variant exists. Permissions follow the umask (mkstemp's 0600
    would hide the file from a web server running as another user).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(body, bytes | bytearray | memoryview):
                handle.write(body)
            else:
                shutil.copyfileobj(body, handle)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@functools.cache
def _umask():
    """The process umask, read without os.umask's set-and-restore (not safe beside threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return DEFAULT_UMASK
