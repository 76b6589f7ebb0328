"""``/images``: upload or confirm, one image with its outputs, delete, and the paged list."""

from peewee import SQL, fn
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagepipe.cancellation import cancel, retry
from imagepipe.removal import delete_image
from imagepipe.storage import get_storage
from imagepipe.submission import enqueue, store_source
from models import Description, Image, Metadata, Variant, step_timeline, timestamp

from . import direct_uploads, limits, uploads
from .db import in_database
from .media import media_path
from .previews import previews
from .responses import ApiError, int_param

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
STATUSES = (Image.QUEUED, Image.PROCESSING, *Image.ENDED)
METADATA_FIELDS = (
    "mode", "has_alpha", "frames", "camera_make", "camera_model", "lens", "exposure_time", "f_number", "iso",
    "focal_length_mm", "gps_latitude", "gps_longitude", "icc_description", "dominant_colors", "average_color",
    "blurhash", "summary",
)  # fmt: skip


def image_urls(image_id):
    return {"url": f"/images/{image_id}", "events": f"/images/{image_id}/events"}


async def create_image(request):
    """Register an image, commit its row, then send ingest: 202 with where to follow it.

    JSON ``{"key", "name"}`` confirms a direct upload (``POST /uploads``); a multipart form
    with a ``file`` field sends the bytes through this process, which stores them itself.
    Either counts against the client's upload budget (web/limits.py) before its body is read.
    """
    await limits.check_upload(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        key, name = await direct_uploads.confirmed_key(request)
        image = await in_database(direct_uploads.enqueue_confirmed, key, name)
        return _accepted(image.id)
    limit = request.app.state.settings.max_upload_bytes
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "send the image as multipart/form-data in a field named 'file', or JSON {key, name}")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "no file: send the image in a multipart field named 'file'")
        await run_in_threadpool(uploads.sniff, upload, limit)
        upload.file.seek(0)
        key, _ = await run_in_threadpool(store_source, upload.file, upload.filename)
    # enqueue() registers and commits the row before ingest.send, and takes both back if the
    # send fails: a fast worker always finds the row, and no row waits for a lost message.
    image = await in_database(enqueue, key, upload.filename or "")
    return _accepted(image.id)


def _accepted(image_id):
    return JSONResponse({"id": image_id, "status": Image.QUEUED, **image_urls(image_id)}, status_code=202)


async def remove_image(request):
    """Delete the image's rows and objects, also while its steps are in flight: 204, or 404."""
    image_id = request.path_params["image_id"]
    if not await in_database(delete_image, image_id):
        raise ApiError(404, f"no image with id {image_id}")
    return Response(status_code=204)


async def cancel_image(request):
    """Cancel an image that has not ended: 200 with its status, 404, or 409 when it has ended."""
    image_id = request.path_params["image_id"]
    return _outcome(await in_database(cancel, image_id, request.app.state.settings), Image.CANCELLED)


async def retry_image(request):
    """Send a cancelled image's remaining steps again: 202, 404, or 409 when it is not cancelled."""
    from actors import broker  # declares the actors on the configured broker, as uploads do

    image_id = request.path_params["image_id"]
    return _outcome(await in_database(retry, image_id, broker), Image.QUEUED, status_code=202)


def _outcome(outcome, status, status_code=200):
    if not outcome.done:
        raise ApiError(409 if outcome.exists else 404, outcome.reason)
    return JSONResponse(
        {"id": outcome.image_id, "status": status, **image_urls(outcome.image_id)}, status_code=status_code
    )


async def show_image(request):
    image_id = request.path_params["image_id"]
    body = await in_database(_image_detail, image_id, media_url(request))
    if body is None:
        raise ApiError(404, f"no image with id {image_id}")
    return JSONResponse(body)


async def list_images(request):
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    page = int_param(request, "page", 1)
    per_page = int_param(request, "per_page", DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)
    return JSONResponse(await in_database(_image_page, status, page, per_page, media_url(request)))


def _image_summary(image):
    return {
        **image.state(),
        "name": image.original_name,
        "created_at": timestamp(image.created_at),
        "completed_at": timestamp(image.completed_at),
        **image_urls(image.id),
    }


def media_url(request):
    """``key -> absolute URL`` of stored objects: the bucket's (public or presigned), or this
    app's ``/media/`` for local storage, signed with an expiry when a token is configured
    (web/signing.py): the one place that makes these URLs."""
    storage, settings = get_storage(), request.app.state.settings
    signer = request.app.state.media_signer
    base = str(request.base_url).rstrip("/")

    def url(key):
        stored = storage.url(key, expires_s=settings.url_expiry_s)
        if stored:
            return stored
        path = media_path(key)
        return base + (signer.sign(path) if signer is not None else path)

    return url


def _image_detail(image_id, url):
    image = Image.get_or_none(Image.id == image_id)
    if image is None:
        return None
    metadata = Metadata.get_or_none(Metadata.image == image_id)
    words = Description.get_or_none(Description.image == image_id)
    variants = Variant.select().where(Variant.image == image_id).order_by(Variant.format, Variant.width)
    return {
        **_image_summary(image),
        **step_timeline(image_id),
        "metadata": None if metadata is None else _metadata(metadata),
        "words": None if words is None else words.words(),
        "variants": [
            {
                "url": url(variant.path),
                "label": variant.label,
                "format": variant.format,
                "width": variant.width,
                "height": variant.height,
                "bytes": variant.bytes,
            }
            for variant in variants
        ],
    }


def _metadata(metadata):
    body = {name: getattr(metadata, name) for name in METADATA_FIELDS}
    body["taken_at"] = timestamp(metadata.taken_at)
    return body


def _image_page(status, page, per_page, url):
    query, counted = Image.select(), Image.select(fn.COUNT(SQL("*")))
    if status is not None:
        query, counted = query.where(Image.status == status), counted.where(Image.status == status)
    # COUNT(*), not query.count(): peewee counts a subquery of whole rows, which reads every
    # row, where SQLite counts COUNT(*) from a b-tree (100k images: 4 ms against 1 ms).
    total = counted.scalar()
    rows = list(query.order_by(Image.id.desc()).paginate(page, per_page))
    shown = previews([image.id for image in rows], url, {image.id: image.bytes for image in rows})
    no_preview = {"thumbnail": None, "saved_bytes": None}
    return {
        "images": [{**_image_summary(image), **shown.get(image.id, no_preview)} for image in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, -(-total // per_page)),
    }


routes = [
    Route("/images", create_image, methods=["POST"]),
    Route("/images", list_images, methods=["GET"]),
    Route("/images/{image_id:int}", show_image, methods=["GET"]),
    Route("/images/{image_id:int}", remove_image, methods=["DELETE"]),
    Route("/images/{image_id:int}/cancel", cancel_image, methods=["POST"]),
    Route("/images/{image_id:int}/retry", retry_image, methods=["POST"]),
]
