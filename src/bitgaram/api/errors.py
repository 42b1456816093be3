"""API errors and the ONE handler that maps every :class:`BitgaramError` to an HTTP status.

Every error response is JSON ``{"error": <kind>, "message": <text>}`` (plus
``detail`` for request validation), so clients never parse HTML or log lines.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bitgaram.errors import (
    BitgaramError,
    ConfigError,
    DataError,
    ForecastError,
    SolveError,
    StoreError,
)
from bitgaram.site.choice import SiteChoiceError


class NotAuthenticatedError(BitgaramError):
    """No valid token or session cookie was presented."""


class PermissionDeniedError(BitgaramError):
    """The caller is authenticated but its role may not do this."""


class NotFoundError(BitgaramError):
    """The resource does not exist or is outside the caller's tenant scope.

    Both cases give the same answer so a tenant cannot probe for other
    tenants' identifiers.
    """


class InsufficientDataError(BitgaramError):
    """The stored data cannot answer this request (e.g. no readings in the period)."""


class TooManyRequestsError(BitgaramError):
    """Too many failed logins or token checks from this client; retry later.

    Attributes
    ----------
    retry_after : int
        Seconds until the next attempt may succeed.
    """

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: Status code per error class; the most specific class in the MRO wins.
STATUS_BY_ERROR: dict[type[BitgaramError], int] = {
    NotAuthenticatedError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    InsufficientDataError: 404,
    TooManyRequestsError: 429,
    SiteChoiceError: 400,
    ConfigError: 422,
    DataError: 422,
    ForecastError: 422,
    SolveError: 422,
    StoreError: 503,
    BitgaramError: 500,
}

_KIND_BY_ERROR: dict[type[BitgaramError], str] = {
    NotAuthenticatedError: "not_authenticated",
    PermissionDeniedError: "forbidden",
    NotFoundError: "not_found",
    InsufficientDataError: "no_data",
    TooManyRequestsError: "rate_limited",
    SiteChoiceError: "site_required",
    ConfigError: "config",
    DataError: "data",
    ForecastError: "forecast",
    SolveError: "solve",
    StoreError: "store_unavailable",
    BitgaramError: "error",
}


def status_for(exc: BitgaramError) -> tuple[int, str]:
    """HTTP status and error kind for a bitgaram error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls], _KIND_BY_ERROR[cls]
    return 500, "error"


async def _bitgaram_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BitgaramError)
    status, kind = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse({"error": kind, "message": str(exc)}, status_code=status, headers=headers)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"error": "http", "message": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
    detail = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors
    ]
    return JSONResponse(
        {"error": "validation", "message": message, "detail": detail}, status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(BitgaramError, _bitgaram_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
