"""``/search?q=...&k=...`` and ``/images/{id}/similar?k=...``: ranked images with thumbnails."""

from starlette.responses import JSONResponse
from starlette.routing import Route

from imagepipe.search import hit_rows, search, similar
from models import Image

from .db import in_database
from .images import image_urls, media_url
from .previews import previews
from .responses import ApiError, int_param

DEFAULT_K = 20
MAX_K = 100
MAX_QUERY_CHARS = 500


async def search_images(request):
    query = request.query_params.get("q", "").strip()
    if not query:
        raise ApiError(400, "q is missing: /search?q=beach+at+sunset")
    if len(query) > MAX_QUERY_CHARS:
        raise ApiError(400, f"q is longer than {MAX_QUERY_CHARS} characters")
    k = int_param(request, "k", DEFAULT_K, maximum=MAX_K)
    results = await in_database(_rows, lambda: search(query, k), media_url(request))
    return JSONResponse({"query": query, "results": results})


async def similar_images(request):
    image_id = request.path_params["image_id"]
    k = int_param(request, "k", DEFAULT_K, maximum=MAX_K)
    settings = request.app.state.settings
    if not await in_database(Image.select().where(Image.id == image_id).exists):
        raise ApiError(404, f"no image with id {image_id}")
    try:
        results = await in_database(_rows, lambda: similar(image_id, k, settings), media_url(request))
    except ValueError as error:  # no pixel vector yet: still in the pipeline
        raise ApiError(409, str(error)) from None
    return JSONResponse({"image": image_id, "similar": results})


def _rows(find, url):
    rows = hit_rows(find())
    shown = previews([row["id"] for row in rows], url)
    for row in rows:
        row["thumbnail"] = shown[row["id"]]["thumbnail"] if row["id"] in shown else None
        row.update(image_urls(row["id"]))
    return rows


routes = [
    Route("/search", search_images, methods=["GET"]),
    Route("/images/{image_id:int}/similar", similar_images, methods=["GET"]),
]
