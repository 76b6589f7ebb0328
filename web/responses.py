"""The JSON shapes every route shares: errors as ``{"error": "..."}``, rows as plain dicts."""

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse


class ApiError(HTTPException):
    """A client error with its HTTP status; rendered as ``{"error": detail}``."""


def error_response(status_code, message):
    return JSONResponse({"error": message}, status_code=status_code)


async def http_error(request, exc):
    """Starlette's own 404/405 and every ApiError, as JSON, with the error's headers (Retry-After)."""
    response = error_response(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response


def int_param(request, name, default, *, minimum=1, maximum=None):
    """A whole-number query parameter, checked; ApiError(400) when it is not one."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, not {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ApiError(400, f"{name} must be {bound}")
    return number
