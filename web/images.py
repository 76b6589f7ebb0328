"""``/images``: upload, one image with its outputs, and the paged list."""

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagepipe.cli.process import enqueue
from models import Image, Metadata, Variant

from . import uploads
from .db import in_database
from .responses import ApiError, int_param, timestamp

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
STATUSES = (Image.QUEUED, Image.PROCESSING, Image.COMPLETED, Image.FAILED)
METADATA_FIELDS = (
    "mode", "has_alpha", "frames", "camera_make", "camera_model", "lens", "exposure_time", "f_number", "iso",
    "focal_length_mm", "gps_latitude", "gps_longitude", "icc_description", "dominant_colors", "average_color",
    "blurhash", "summary",
)  # fmt: skip


def image_urls(image_id):
    return {"url": f"/images/{image_id}", "events": f"/images/{image_id}/events"}


async def create_image(request):
    """Store the upload, commit its row, then send ingest: 202 with where to follow it."""
    settings = request.app.state.settings
    limit = settings.max_upload_bytes
    uploads.check_content_length(request, limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "send the image as multipart/form-data in a field named 'file'")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "no file: send the image in a multipart field named 'file'")
        await run_in_threadpool(uploads.sniff, upload, limit)
        path = await run_in_threadpool(uploads.store, upload, settings.media_root)
    # enqueue() registers and commits the row before ingest.send, and takes both back if the
    # send fails: a fast worker always finds the row, and no row waits for a lost message.
    (image_id,) = await in_database(enqueue, [path], settings)
    return JSONResponse({"id": image_id, "status": Image.QUEUED, **image_urls(image_id)}, status_code=202)


async def show_image(request):
    image_id = request.path_params["image_id"]
    body = await in_database(_image_detail, image_id)
    if body is None:
        raise ApiError(404, f"no image with id {image_id}")
    return JSONResponse(body)


async def list_images(request):
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    page = int_param(request, "page", 1)
    per_page = int_param(request, "per_page", DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)
    return JSONResponse(await in_database(_image_page, status, page, per_page))


def _image_summary(image):
    return {
        **image.state(),
        "name": image.original_name,
        "created_at": timestamp(image.created_at),
        "completed_at": timestamp(image.completed_at),
        **image_urls(image.id),
    }


def _image_detail(image_id):
    image = Image.get_or_none(Image.id == image_id)
    if image is None:
        return None
    metadata = Metadata.get_or_none(Metadata.image == image_id)
    variants = Variant.select().where(Variant.image == image_id).order_by(Variant.format, Variant.width)
    return {
        **_image_summary(image),
        "metadata": None if metadata is None else _metadata(metadata),
        "variants": [
            {
                "url": f"/media/{variant.path}",
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


def _image_page(status, page, per_page):
    query = Image.select()
    if status is not None:
        query = query.where(Image.status == status)
    total = query.count()
    rows = query.order_by(Image.id.desc()).paginate(page, per_page)
    return {
        "images": [_image_summary(image) for image in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, -(-total // per_page)),
    }


routes = [
    Route("/images", create_image, methods=["POST"]),
    Route("/images", list_images, methods=["GET"]),
    Route("/images/{image_id:int}", show_image, methods=["GET"]),
]
