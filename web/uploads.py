"""Accepting an upload: size limits, content sniffing, storage under MEDIA_ROOT/uploads."""

import re
import uuid
from pathlib import Path, PureWindowsPath

from PIL import Image as PILImage

from imagepipe.imaging import heif
from imagepipe.imaging.opening import ALLOWED_FORMATS
from imagepipe.media import UPLOADS_DIR, write_atomically

from .responses import ApiError

#: Multipart framing around the file: headers, boundary lines. A Content-Length beyond the
#: limit plus this is refused before a byte of the body is parsed.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_NAME_CHARS = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_content_length(request, limit):
    """413 at once when the request says it is larger than any allowed upload."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD_BYTES:
        raise ApiError(413, f"upload is {int(declared):,} bytes, over the {limit:,} byte limit")


def safe_name(filename):
    """The last component of a client's file name, reduced to ``[A-Za-z0-9._-]``, never hidden."""
    name = PureWindowsPath(filename or "").name  # also splits on "/": both separators go
    name = _UNSAFE.sub("_", name).lstrip(".")[-MAX_NAME_CHARS:]
    return name or "upload"


def sniff(upload, limit):
    """Check an UploadFile's size and content; its Pillow format name. Runs in a thread.

    The format comes from the bytes (Pillow's allowlisted openers), never from the file name
    or the client's Content-Type. Decoding and pixel limits stay with the ingest step, which
    reports them as the image's failure reason.
    """
    size = upload.size if upload.size is not None else _measure(upload.file)
    if size == 0:
        raise ApiError(400, "the file is empty (0 bytes)")
    if size > limit:
        raise ApiError(413, f"file is {size:,} bytes, over the {limit:,} byte limit")
    if "HEIF" in ALLOWED_FORMATS:
        heif.register_opener()
    upload.file.seek(0)
    try:
        with PILImage.open(upload.file, formats=ALLOWED_FORMATS) as image:
            fmt = "JPEG" if image.format == "MPO" else image.format
    except PILImage.DecompressionBombError as exc:
        raise ApiError(413, f"too many pixels: {exc}") from None
    except Exception:
        allowed = ", ".join(ALLOWED_FORMATS)
        raise ApiError(415, f"not an image in an accepted format (accepted: {allowed})") from None
    finally:
        upload.file.seek(0)
    return fmt


def store(upload, media_root):
    """Write the upload to MEDIA_ROOT/uploads/<random>/<safe name>; its absolute path."""
    path = Path(media_root) / UPLOADS_DIR / uuid.uuid4().hex[:12] / safe_name(upload.filename)
    upload.file.seek(0)
    write_atomically(path, upload.file.read())
    return path


def _measure(file):
    file.seek(0, 2)
    return file.tell()
