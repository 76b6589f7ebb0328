"""``/media/...``: the variants in local storage, and nothing else of it.

Only ``variants/`` is served (sources stay private), only regular files (no listing), and
only what resolves inside it: ``..``, encoded slashes and symlinks pointing out all get 404,
the same answer as a missing file, so probing learns nothing. With S3 storage the bucket (or
its CDN) serves the variants, and this route answers 404.

With a token configured, a URL is served only with a valid, unexpired signature (web/signing.py,
made by ``images.media_url``): 403 otherwise. Every file goes out with the type its key's
extension names (an image type, or 404), ``nosniff``, and a sandboxing CSP, so that even a file
whose bytes are HTML cannot run script in this origin.
"""

import re

from starlette.responses import FileResponse
from starlette.routing import Route

from imagepipe.errors import SourceRejected
from imagepipe.storage import IMMUTABLE, LocalStorage, content_type, get_storage
from imagepipe.storage.keys import VARIANTS_DIR

from .responses import ApiError
from .signing import MEDIA_PREFIX, InvalidSignature

#: Keys of the shape variant_key() makes carry their content's hash: cacheable for ever.
_HASHED = re.compile(r"/\d+-[0-9a-f]{12}\.[a-z]+$")
#: Older keys (``variants/<id>/<width>.<fmt>``) were rewritten in place: caches revalidate.
REWRITTEN_CACHE_CONTROL = "public, max-age=60"
#: A served file is never a document: no script, no plugin, no same-origin access, whatever its bytes.
MEDIA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


async def media_file(request):
    key = request.path_params["path"]
    signer = request.app.state.media_signer
    if signer is not None:
        try:
            signer.verify(media_path(key), request.query_params.get("expires"), request.query_params.get("signature"))
        except InvalidSignature as refused:
            raise ApiError(403, refused.reason) from None
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
    headers = {"Cache-Control": cache, "Content-Security-Policy": MEDIA_CSP, "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=media_type, headers=headers)


def media_path(key):
    """The path under which this app serves ``key`` (what a media URL's signature covers)."""
    return f"{MEDIA_PREFIX}{key}"


routes = [Route(MEDIA_PREFIX + "{path:path}", media_file, methods=["GET", "HEAD"])]
