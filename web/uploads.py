"""Accepting a multipart upload: size limits and content sniffing before it is stored."""

from PIL import Image as PILImage

from imagepipe.imaging import heif
from imagepipe.imaging.opening import ALLOWED_FORMATS

from .responses import ApiError

#: The path of the local stand-in for a presigned POST (web/direct_uploads.py); here because
#: the body limits (web/limits.py) treat it as an upload too.
LOCAL_FORM_PATH = "/uploads/form"
#: Multipart framing around the file: headers, boundary lines. A Content-Length beyond the
#: limit plus this is refused before a byte of the body is parsed (web/limits.py BodyLimits).
MULTIPART_OVERHEAD_BYTES = 64 * 1024


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


def _measure(file):
    file.seek(0, 2)
    return file.tell()
