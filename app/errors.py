"""One error model for the whole API: RFC 9457 ``application/problem+json``.

Services raise ``AppError`` subclasses; they never know about HTTP responses. The handlers
installed by ``install_error_handlers`` render those, FastAPI's validation errors and
Starlette's HTTP errors (404, 405, ...) the same way.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypedDict

import orjson
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from app.kit.database import is_database_unavailable, sqlstate_of
from app.logs import request_id_var

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("tidings.errors")


class FieldError(TypedDict):
    field: str
    message: str
    type: str


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedJson(BadRequest):
    slug, title = "malformed-json", "Malformed JSON"

    def __init__(self) -> None:
        super().__init__("The request body is not valid JSON.")


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="tidings"'})


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class TooManyRequests(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class InvalidInput(AppError):
    status, slug, title = 422, "validation-error", "Invalid input"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


def unstorable_value() -> InvalidInput:
    """A value validation let through but the database refuses (SQLSTATE class 22)."""
    return InvalidInput(
        "A value in this request cannot be stored (a NUL character, a number out of range, "
        "...); correct it and retry."
    )


def invalid_field(field: str, message: str, error_type: str = "value_error") -> InvalidInput:
    """A 422 about a single field, the most common validation failure raised by services."""
    return InvalidInput(
        f"{field}: {message}", errors=[{"field": field, "message": message, "type": error_type}]
    )


class ProblemFieldError(BaseModel):
    field: str
    message: str
    type: str


class Problem(BaseModel):
    """The body of every error: RFC 9457 problem details, with field errors on a 422."""

    type: str = Field(examples=["urn:tidings:problem:not-found"])
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldError] | None = None
    request_id: str | None = None


_STATUS_MEANINGS = {
    400: "The body is not valid JSON.",
    401: "Missing, malformed, wrong or revoked credentials; or a secret in a URL.",
    403: "A key of the wrong kind for this route, or a foreign origin.",
    404: "No such object in this workspace.",
    409: "Conflicts with the current state.",
    412: "`If-Match` names a version that is no longer current.",
    413: "The body is over 256 KB (or a batch is too long).",
    415: "The body is neither JSON nor text/plain.",
    422: "A field is invalid, unknown or read-only; `errors` names each one.",
    429: "Rate limited; retry after `Retry-After` seconds.",
    503: "The database does not answer; retry after `Retry-After` seconds.",
}
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error statuses, as problem+json."""
    return {status: problem_response_doc(status) for status in statuses}


def problem_response_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object for an error status (``Problem`` in app/kit/openapi.py)."""
    entry: dict[str, Any] = {
        "description": description or _STATUS_MEANINGS.get(status, HTTPStatus(status).phrase),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
    }
    if status in (429, 503):
        entry["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer"},
            }
        }
    return entry


def problem_response(
    status: int,
    *,
    title: str,
    detail: str,
    slug: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:tidings:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers) if headers else None,
    )


def _location(loc: Sequence[int | str]) -> str:
    """``("body", "audience", "pages", 0)`` → ``audience.pages[0]``."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    text = ""
    for part in parts:
        if part == "[key]":  # pydantic's marker for "the dict key itself is invalid"
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def field_errors_from_pydantic(errors: Sequence[Any], prefix: str = "") -> list[FieldError]:
    result: list[FieldError] = []
    for error in errors:
        field = _location(error.get("loc", ()))
        if prefix:
            field = prefix if field == "body" else f"{prefix}.{field}"
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown or read-only field; remove it"
        result.append({"field": field, "message": message, "type": str(error.get("type"))})
    return result


def invalid_input(exc: ValidationError) -> InvalidInput:
    """A 422 from a pydantic model validated by hand (bodies read outside FastAPI)."""
    errors = field_errors_from_pydantic(exc.errors())
    return InvalidInput(_summary(errors), errors=errors)


def _summary(errors: Sequence[FieldError]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        errors=exc.errors,
        headers=exc.headers,
    )


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError | ValidationError)
    raw = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in raw):
        return await _app_error(request, MalformedJson())
    errors = field_errors_from_pydantic(raw)
    return problem_response(
        422, title="Invalid input", detail=_summary(errors), slug="validation-error", errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    if exc.status_code == 404 and detail == phrase:
        detail = f"No route matches {request.method} {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(exc.status_code, title=phrase, detail=detail, headers=exc.headers)


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, sqlalchemy.exc.DBAPIError)
    if is_database_unavailable(exc):
        return await _database_unavailable(request, exc)
    if sqlstate_of(exc).startswith("22"):
        # Class 22, "data exception": a value validation let through but the database
        # refuses (a NUL byte, a number out of range). The client's input: a 422, not a 500.
        logger.warning("the database refused a value (SQLSTATE %s)", sqlstate_of(exc))
        return await _app_error(request, unstorable_value())
    return await _unexpected_error(request, exc)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        503,
        title="Service unavailable",
        detail="The database is not reachable right now; retry shortly.",
        slug="service-unavailable",
        headers={"Retry-After": "2"},
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up mid-body: nobody reads this answer, and it is not our fault.
    logger.info("client disconnected before sending its whole request")
    return problem_response(400, title="Bad request", detail="The client disconnected.")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", exc_info=exc)
    return problem_response(
        500,
        title="Internal server error",
        detail="Something went wrong on our side; the request id identifies it in the logs.",
        slug="internal-error",
    )


# Every driver error is looked at: asyncpg's "connection closed in the middle of an
# operation" arrives as a bare DBAPIError, neither operational nor an interface error.
_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    AppError: _app_error,
    RequestValidationError: _request_validation_error,
    ValidationError: _request_validation_error,
    StarletteHTTPException: _http_error,
    sqlalchemy.exc.DBAPIError: _database_error,
    sqlalchemy.exc.TimeoutError: _database_unavailable,
    ConnectionError: _database_unavailable,
    TimeoutError: _database_unavailable,
    ClientDisconnect: _client_gone,
    Exception: _unexpected_error,
}


def install_error_handlers(app: FastAPI) -> None:
    for exception_class, handler in _HANDLERS.items():
        app.add_exception_handler(exception_class, handler)


async def exception_response(request: Request, exc: Exception) -> Response:
    """The answer to ``exc``, chosen as the installed handlers choose (nearest class first).

    For the routes served outside FastAPI's middleware (see app/kit/hot_routes.py).
    """
    for exception_class in type(exc).__mro__:
        handler = _HANDLERS.get(exception_class)
        if handler is not None:
            return await handler(request, exc)
    raise exc  # a BaseException that is not an Exception: not ours to answer
