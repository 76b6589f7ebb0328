"""``/media/...``: the variants in local storage, and nothing else of it.

Only ``variants/`` is served (sources stay private), only regular files (no listing), and
only what resolves inside it: ``..``, encoded slashes and symlinks pointing out all get 404,
the same answer as a missing file, so probing learns nothing. With S3 storage the bucket (or
its CDN) serves the variants, and this route answers 404.
"""

import re

from starlette.responses import FileResponse
from starlette.routing import Route

from imagepipe.errors import SourceRejected
from imagepipe.storage import IMMUTABLE, LocalStorage, content_type, get_storage
from imagepipe.storage.keys import VARIANTS_DIR

from .responses import ApiError

#: Keys of the shape variant_key() makes carry their content's hash: cacheable for ever.
_HASHED = re.compile(r"/\d+-[0-9a-f]{12}\.[a-z]+$")
#: Older keys (``variants/<id>/<width>.<fmt>``) were rewritten in place: caches revalidate.
REWRITTEN_CACHE_CONTROL = "public, max-age=60"


async def media_file(request):
    key = request.path_params["path"]
    storage = get_storage()
    if not isinstance(storage, LocalStorage) or not key.startswith(f"{VARIANTS_DIR}/") or "\x00" in key:
        raise ApiError(404, "not found")
    try:
        path = storage.path(key)
    except SourceRejected:
        raise ApiError(404, "not found") from None
    media_type = content_type(key)
    if not path.is_relative_to(storage.path(VARIANTS_DIR)) or not path.is_file() or media_type is None:
        raise ApiError(404, "not found")
    cache = IMMUTABLE if _HASHED.search(key) else REWRITTEN_CACHE_CONTROL
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache})


routes = [Route("/media/{path:path}", media_file, methods=["GET", "HEAD"])]
