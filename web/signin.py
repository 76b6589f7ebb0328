"""``/session``: the page signs in with a token once, then its requests carry the cookie."""

from datetime import UTC, datetime

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import SESSION_PATH, session_cookie, tokens_of
from .headers import over_https
from .responses import ApiError
from .sessions import cookie_header, session_of, session_value


async def sign_in(request):
    """``POST /session`` with ``Authorization: Bearer TOKEN``: 200 and a new session's cookie."""
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        raise ApiError(400, "sign in with the token as Authorization: Bearer <token>")
    settings, tokens = request.app.state.settings, tokens_of(request.app.state.settings)
    scope = request.scope["imagepipe.scope"]
    if not any(tokens.values()):
        raise ApiError(400, "authentication is off (no IMAGEPIPE_API_TOKEN): there is nothing to sign in to")
    value = session_value(scope, tokens[scope], settings.session_ttl_s)
    response = JSONResponse(_state(True, scope, session_of(value, tokens)))
    secure = over_https(request.scope)
    response.headers["Set-Cookie"] = cookie_header(value, max_age_s=settings.session_ttl_s, secure=secure)
    return response


async def session_state(request):
    """``GET /session``: whether the app asks for a credential, and what this request may do."""
    tokens = tokens_of(request.app.state.settings)
    session = session_of(session_cookie(request.scope), tokens)
    return JSONResponse(_state(any(tokens.values()), request.scope.get("imagepipe.scope"), session))


async def sign_out(request):
    """``DELETE /session``: 204, and the browser drops the cookie (the token's other sessions stay)."""
    response = Response(status_code=204)
    response.headers["Set-Cookie"] = cookie_header("", max_age_s=0, secure=over_https(request.scope))
    return response


def _state(authentication, scope, session):
    expires_at = None if session is None else datetime.fromtimestamp(session[1], UTC).isoformat().replace("+00:00", "Z")
    return {"authentication": authentication, "scope": scope, "expires_at": expires_at}


routes = [
    Route(SESSION_PATH, sign_in, methods=["POST"]),
    Route(SESSION_PATH, session_state, methods=["GET"]),
    Route(SESSION_PATH, sign_out, methods=["DELETE"]),
]
