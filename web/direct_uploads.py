"""Uploads that bypass this process: ``POST /uploads`` hands out a form for one key, the
client uploads to it, then ``POST /images`` with ``{"key", "name"}`` confirms it.

With S3 storage the form is a presigned POST to the bucket: the store itself refuses a
bigger file, another type, another key or a late upload. With local storage the form points
at ``POST /uploads/form`` of this app, which applies the same conditions, so one client flow
works on both. An issued key is unguessable (128 random bits) and is recorded: only such a
key, uploaded, can become an image, and only once.
"""

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagepipe.storage import get_storage, source_key
from imagepipe.storage.keys import CONTENT_TYPES, is_source_key
from imagepipe.submission import enqueue
from models import Upload, claim_upload, issue_upload, timestamp

from . import limits
from .db import in_database
from .responses import ApiError
from .uploads import LOCAL_FORM_PATH

ACCEPTED_TYPES = frozenset(CONTENT_TYPES.values())


async def create_upload(request):
    """201 ``{"key", "upload": {"url", "fields"}, "expires_at"}`` for one file of ``bytes``."""
    await limits.check_upload(request)
    body = await _json(request)
    name, kind, size = body.get("name"), body.get("content_type"), body.get("bytes")
    limit = request.app.state.settings.max_upload_bytes
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name: the file's name is required")
    if kind not in ACCEPTED_TYPES:
        raise ApiError(415, f"content_type must be one of {', '.join(sorted(ACCEPTED_TYPES))}, not {kind!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ApiError(400, "bytes: the file's size in bytes (a positive whole number) is required")
    if size > limit:
        raise ApiError(413, f"file is {size:,} bytes, over the {limit:,} byte limit")
    upload = await in_database(_issue, request, source_key(name), name, kind, limit)
    return JSONResponse({"key": upload["key"], "upload": upload["form"], "expires_at": upload["expires_at"]}, 201)


def _issue(request, key, name, kind, limit):
    settings = request.app.state.settings
    expires_s = settings.upload_expiry_s
    row = issue_upload(key, name=name, content_type=kind, max_bytes=limit, expires_s=expires_s)
    form = get_storage().upload_form(key, content_type=kind, max_bytes=limit, expires_s=expires_s) or {
        "url": str(request.base_url).rstrip("/") + LOCAL_FORM_PATH,
        "fields": {"key": key, "Content-Type": kind},
    }
    return {"key": key, "form": form, "expires_at": timestamp(row.expires_at)}


async def receive_local_upload(request):
    """The local storage's stand-in for the bucket: 204 like S3, or the store's refusals."""
    async with request.form(max_files=1, max_fields=10) as form:
        key, kind, file = form.get("key"), form.get("Content-Type"), form.get("file")
        if not isinstance(key, str) or not isinstance(file, UploadFile):
            raise ApiError(400, "send the form's fields and the file in a field named 'file'")
        upload = await in_database(Upload.get_or_none, Upload.key == key)
        if upload is None or upload.expired or upload.image_id is not None:
            raise ApiError(403, "AccessDenied: this upload form is unknown, used or expired")
        if kind != upload.content_type:
            raise ApiError(403, "AccessDenied: Content-Type is not the one the form was issued for")
        size = file.size if file.size is not None else 0
        if size > upload.max_bytes:
            raise ApiError(400, "EntityTooLarge: the upload exceeds the maximum allowed size")
        if size == 0:
            raise ApiError(400, "EntityTooSmall: the upload is empty")
        await run_in_threadpool(get_storage().put, key, file.file, content_type=kind)
    return Response(status_code=204)


async def confirmed_key(request):
    """The ``key`` and ``name`` of a confirmation body, checked for shape (400 otherwise)."""
    body = await _json(request)
    key, name = body.get("key"), body.get("name", "")
    if not isinstance(key, str) or not is_source_key(key):
        raise ApiError(400, "key: send the key that POST /uploads returned")
    if not isinstance(name, str):
        raise ApiError(400, "name must be a string")
    return key, name


def enqueue_confirmed(key, name):
    """Turn an issued, uploaded key into a queued image (in a database thread)."""
    upload = Upload.get_or_none(Upload.key == key)
    if upload is None:
        raise ApiError(400, "this key was not issued by POST /uploads")
    if upload.image_id is not None:
        raise ApiError(409, f"this upload is image {upload.image_id} already")
    if not get_storage().exists(key):
        raise ApiError(404, "nothing was uploaded to this key (upload the file to the form first)")
    image = enqueue(key, name or upload.name, stored=False)  # a failed send keeps the upload
    if not claim_upload(upload, image):
        image.delete_instance(recursive=True)  # a concurrent confirmation won; its image stays
        raise ApiError(409, "this upload was confirmed by another request")
    return image


async def _json(request):
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


routes = [
    Route("/uploads", create_upload, methods=["POST"]),
    Route(LOCAL_FORM_PATH, receive_local_upload, methods=["POST"]),
]
