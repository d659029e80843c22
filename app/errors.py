"""The one table from domain errors to HTTP, and the two error body formats.

Paths under `/mds/` answer with MDS error bodies; everything else with RFC 9457
`application/problem+json`.
"""

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.authenticator import UnsupportedGrant
from app.core.errors import (
    BulkAlreadyRegistered,
    BulkRejected,
    BulkUnregistered,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from app.core.outages import is_outage
from app.mds_media import MDS_CONTENT_TYPE, UnsupportedVersion

log = logging.getLogger("fleetbed.errors")

# What a client is told to wait while PostgreSQL or Redis cannot be reached: long enough for
# a restart or a failover, short enough that gateways flush their buffers soon after.
OUTAGE_RETRY_AFTER_S = 5

# Errors that may be an outage; `is_outage` decides, anything else stays a 500.
OUTAGE_CANDIDATES: tuple[type[Exception], ...] = (
    OSError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    RedisError,
)

# Most specific first: the first class in an error's MRO that is listed wins.
STATUS: dict[type[DomainError], int] = {
    BulkAlreadyRegistered: 409,
    BulkUnregistered: 404,
    BulkRejected: 400,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    MalformedBody: 400,
    ServiceUnavailable: 503,
    Unavailable: 503,
    UnsupportedVersion: 406,
    UnsupportedGrant: 400,
}

MDS_ERROR_CODES: dict[int, str] = {
    400: "bad_param",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "unsupported_version",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "bad_param",
    503: "unavailable",
}

PROBLEM_CONTENT_TYPE = "application/problem+json"

# RFC 6749 error codes, added to problem bodies of the token endpoint for OAuth2 clients.
TOKEN_PATH = "/auth/token"  # noqa: S105 - a path, not a secret
OAUTH_ERRORS: dict[int, str] = {400: "unsupported_grant_type", 401: "invalid_client"}


def status_of(error: DomainError) -> int:
    """HTTP status of a domain error."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def is_mds(request: Request) -> bool:
    """Whether the request is for an MDS endpoint."""
    return request.url.path.startswith("/mds/")


def mds_error_body(status: int, description: str, details: list[str]) -> dict[str, Any]:
    """MDS error message object."""
    return {
        "error": MDS_ERROR_CODES.get(status, "error"),
        "error_description": description,
        "error_details": details or [description],
    }


def problem_body(request: Request, status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """RFC 9457 problem details."""
    return {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }


def error_response(
    request: Request,
    status: int,
    detail: str,
    *,
    details: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An error in the format the endpoint family speaks."""
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    if is_mds(request):
        # MDS knows no 422: a well-formed but invalid request is a 400 there.
        status = 400 if status == 422 else status
        body = mds_error_body(status, detail, details or [])
        media_type = MDS_CONTENT_TYPE
    else:
        if request.url.path == TOKEN_PATH and status in OAUTH_ERRORS:
            extra = {"error": OAUTH_ERRORS[status], **extra}
        body = problem_body(request, status, detail, **extra)
        media_type = PROBLEM_CONTENT_TYPE
    return Response(_json(body), status, headers=headers, media_type=media_type)


def _json(body: Any) -> bytes:
    """An error body as JSON. Bodies echo bad input, which may hold what orjson cannot
    write (integers beyond 64 bits); the standard library writes any JSON value."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body).encode()


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = status_of(exc)
    if isinstance(exc, BulkRejected):
        body = {
            "success": 0,
            "total": exc.total,
            "failures": [f.as_dict() for f in exc.failures],
        }
        return Response(_json(body), status, media_type=MDS_CONTENT_TYPE)
    headers = (
        {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, ServiceUnavailable) else None
    )
    return error_response(
        request, status, exc.detail, details=list(exc.fields), headers=headers, **exc.extensions()
    )


async def _outage(request: Request, exc: Exception) -> Response:
    if not is_outage(exc):
        raise exc
    log.warning(
        "a dependency is unreachable; answering 503",
        extra={"path": request.url.path, "error": repr(exc)[:300]},
    )
    unavailable = ServiceUnavailable(
        "the service's database or cache cannot be reached; retry later",
        retry_after_s=OUTAGE_RETRY_AFTER_S,
    )
    return await _domain_error(request, unavailable)


def _field_name(loc: tuple[Any, ...]) -> str:
    # Drop the location kind ("query", "path", "body") from FastAPI's error locations.
    parts = loc[1:] if loc and loc[0] in {"query", "path", "body", "header"} else loc
    return ".".join(str(p) for p in parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    fields = sorted({_field_name(tuple(e["loc"])) for e in errors})
    detail = "; ".join(f"{_field_name(tuple(e['loc']))}: {e['msg']}" for e in errors)
    invalid = [{"field": _field_name(tuple(e["loc"])), "message": e["msg"]} for e in errors]
    return error_response(request, 422, detail, details=fields, errors=invalid)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(request, exc.status_code, str(exc.detail), headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the table above."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for candidate in OUTAGE_CANDIDATES:
        app.add_exception_handler(candidate, _outage)
