"""Files under MEDIA_ROOT: where sources and variants live, and writing them safely."""

import functools
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from .errors import SourceRejected

UPLOADS_DIR = "uploads"
#: The umask assumed where /proc cannot tell (not Linux).
DEFAULT_UMASK = 0o022
VARIANTS_DIR = "variants"


def resolve_source(media_root, source):
    """The absolute path of ``source``; refuses anything that resolves outside MEDIA_ROOT.

    ``resolve()`` follows symlinks, so a link inside MEDIA_ROOT pointing out of it is refused too.
    """
    root = Path(media_root).resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root):
        raise SourceRejected(f"source {Path(source).name!r} resolves outside MEDIA_ROOT")
    if not path.is_file():
        raise SourceRejected(f"source file not found: {Path(source).name}")
    return path


def import_source(media_root, path):
    """The path of ``path`` relative to MEDIA_ROOT, copying it into uploads/ when it lies outside."""
    root = Path(media_root).resolve()
    path = Path(path).resolve()
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    relative = Path(UPLOADS_DIR) / uuid.uuid4().hex[:12] / path.name
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return relative.as_posix()


def variant_path(image_id, width, fmt):
    """Where a variant lives, relative to MEDIA_ROOT: one folder an image, so rewrites replace."""
    return f"{VARIANTS_DIR}/{image_id}/{width}.{fmt}"


def write_atomically(path, data):
    """Write ``data`` to a temporary name beside ``path`` and rename it into place.

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
            handle.write(data)
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
