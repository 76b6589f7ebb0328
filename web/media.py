"""``/media/...``: the variant files, and nothing else under MEDIA_ROOT.

Only ``variants/`` is served (sources stay private), only regular files (no listing), and
only what resolves inside it: ``..``, encoded slashes and symlinks pointing out all get 404,
the same answer as a missing file, so probing learns nothing.
"""

import mimetypes

from starlette.responses import FileResponse
from starlette.routing import Route

from imagepipe.media import VARIANTS_DIR

from .responses import ApiError

CONTENT_TYPES = {".webp": "image/webp", ".avif": "image/avif", ".jpg": "image/jpeg", ".png": "image/png"}
#: Variants are rewritten in place by a replay, so caches revalidate rather than keep them.
CACHE_CONTROL = "public, max-age=60"


async def media_file(request):
    relative = request.path_params["path"]
    root = (request.app.state.settings.media_root / VARIANTS_DIR).resolve()
    prefix = f"{VARIANTS_DIR}/"
    if not relative.startswith(prefix) or "\x00" in relative:
        raise ApiError(404, "not found")
    path = (root / relative[len(prefix) :]).resolve()
    if not path.is_relative_to(root) or path == root or not path.is_file():
        raise ApiError(404, "not found")
    media_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    if media_type is None or not media_type.startswith("image/"):
        raise ApiError(404, "not found")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": CACHE_CONTROL})


routes = [Route("/media/{path:path}", media_file, methods=["GET", "HEAD"])]
