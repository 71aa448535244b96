"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://keel.dev/problems/"
INTERNAL_ERROR_DETAIL = "Something went wrong on our side. Quote the request id when you report it."

log = structlog.get_logger("keel.errors")


class FieldError(BaseModel):
    field: str = Field(description="Dotted path, e.g. `body.settings.time_zone`.")
    message: str
    type: str | None = None


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


Responses = dict[int | str, dict[str, Any]]  # FastAPI's `responses=`


def problem_doc(description: str, *, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """One problem response for `responses=`: problem+json with the ProblemDetails schema."""
    doc: dict[str, Any] = {
        "description": description,
        "model": ProblemDetails,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }
    if headers:
        doc["headers"] = headers
    return doc


def problem_docs(*reasons: Mapping[int, str]) -> Responses:
    """`responses=problem_docs({409: "A pipeline with this name exists"})`: the statuses a route's service
    raises, each with why. keel.core.openapi adds what the route's parameters and dependencies cause."""
    by_status: dict[int, list[str]] = {}
    for mapping in reasons:
        for status, reason in mapping.items():
            by_status.setdefault(status, []).append(reason)
    return {status: problem_doc(joined_reasons(why)) for status, why in by_status.items()}


def joined_reasons(reasons: Iterable[str]) -> str:
    """Distinct reasons in order, as one description: "The body is not valid JSON; the cursor ..."."""
    distinct = list(dict.fromkeys(r for r in reasons if r))
    return "; ".join(distinct[:1] + [_continued(r) for r in distinct[1:]])


def _continued(reason: str) -> str:
    word = reason.split(" ", 1)[0]
    # An ordinary first word goes lower-case mid-sentence; names (If-Match, IP, `cf.<key>`) keep theirs.
    ordinary = word.isalpha() and (len(word) == 1 or word[1:].islower())
    return reason[0].lower() + reason[1:] if ordinary else reason


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema}


_SECONDS = {"type": "integer", "minimum": 1}

# What every /api/v1 operation can answer, whatever it does: authentication and the permission check
# (every route declares one), the rate limit, the body cap (checked before routing), and the server.
PROBLEM_RESPONSES: Responses = {
    401: problem_doc(
        "Missing or invalid credentials",
        headers={"WWW-Authenticate": _header("The schemes Keel accepts", {"type": "string"})},
    ),
    403: problem_doc(
        "The caller's role lacks the permission, the record is outside their scope, or their "
        "organisation does not allow their network"
    ),
    413: problem_doc("The body is larger than the cap"),
    429: problem_doc(
        "Too many requests: the organisation's or the user's rate limit was reached",
        headers={
            "Retry-After": _header("Seconds until a request is accepted again", _SECONDS),
            "RateLimit-Limit": _header("Requests allowed in the window", _SECONDS),
            "RateLimit-Remaining": _header("Always 0 on a 429", {"type": "integer", "minimum": 0}),
            "RateLimit-Reset": _header("Seconds until the next slot frees up", _SECONDS),
        },
    ),
    500: problem_doc("Server error"),
    503: problem_doc(
        "The database is unavailable: retry shortly",
        headers={"Retry-After": _header("Seconds to wait before retrying", _SECONDS)},
    ),
}


class Problem(Exception):
    """An error a client can act on. Raise it anywhere below a route; it becomes problem+json."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or _title(status))
        self.status = status
        self.title = title or _title(status)
        self.detail = detail
        self.code = code or _slug(self.title)
        self.headers = headers or {}
        self.extensions = extensions


# RFC 9110 names; Python 3.11's HTTPStatus still uses the older phrase for 413.
_TITLES = {413: "Content Too Large"}


def _title(status: int) -> str:
    return _TITLES.get(status) or HTTPStatus(status).phrase


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-").replace("'", "")


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    code: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    title = title or _title(status)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or _slug(title)),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_errors(exc: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as `{field, message, type}` with dotted field paths."""
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


def validation_problem(exc: ValidationError, detail: str) -> Problem:
    """A 422 for input validated below the HTTP layer (CLI, platform path, jobs)."""
    return Problem(422, detail, title="Validation failed", code="validation-failed", errors=field_errors(exc))


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        code=exc.code,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, detail=detail, instance=request.url.path, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path (Starlette's Allow names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400,
            title="Malformed JSON",
            detail="The request body is not valid JSON.",
            instance=request.url.path,
        )
    return problem_response(
        422,
        title="Validation failed",
        detail="One or more fields are invalid.",
        code="validation-failed",
        instance=request.url.path,
        errors=errors,
    )


async def _on_conflict(request: Request, exc: Exception) -> Response:
    # A constraint the checks before it did not catch, e.g. two requests racing for one unique value.
    log.warning("integrity_conflict", path=request.url.path, error=type(exc).__name__)
    return problem_response(
        409,
        detail="The change conflicts with the current state. Reload and try again.",
        instance=request.url.path,
    )


async def _on_unstorable_value(request: Request, exc: Exception) -> Response:
    # A value the database cannot hold (a NUL byte in text, a number out of range): the client's input.
    log.warning("unstorable_value", path=request.url.path, error=str(getattr(exc, "orig", exc))[:200])
    return problem_response(
        422,
        title="Validation failed",
        detail="A value in the request cannot be stored, e.g. text containing a NUL character.",
        code="validation-failed",
        instance=request.url.path,
    )


async def _on_database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    # Serialization failure, deadlock, lock wait past lock_timeout: nothing happened, safe to retry.
    if sqlstate in ("40001", "40P01", "55P03"):
        log.warning("transaction_conflict", path=request.url.path, sqlstate=sqlstate)
        return problem_response(
            409,
            detail="The change collided with another one. Retry the request.",
            instance=request.url.path,
        )
    # A row-level-security check refused the write: the record is outside the caller's scope. The
    # service should have said so first; the database is the backstop.
    if sqlstate == "42501":
        log.warning("refused_by_row_security", path=request.url.path)
        return problem_response(
            403, detail="This record is outside what your role may change.", instance=request.url.path
        )
    if exc.connection_invalidated or sqlstate.startswith("08") or sqlstate == "57P01":
        log.error("database_unavailable", path=request.url.path, sqlstate=sqlstate)
        return problem_response(
            503,
            detail="The database is unavailable. Retry shortly.",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )
    raise exc


async def _on_exhausted_pool(request: Request, exc: Exception) -> Response:
    # Every connection of the pool stayed busy for the pool's timeout: the process is at capacity.
    # Nothing was done; the client may retry.
    log.error("at_capacity", path=request.url.path, error=type(exc).__name__)
    return problem_response(
        503,
        detail="Keel is at capacity. Retry shortly.",
        instance=request.url.path,
        headers={"Retry-After": "2"},
    )


async def _on_shared_state_error(request: Request, exc: Exception) -> Response:
    # Redis holds the rate limits and revocations every request checks: without it none is answered.
    log.error("shared_state_unavailable", path=request.url.path, error=str(exc)[:200])
    return problem_response(
        503,
        detail="Shared state is unavailable. Retry shortly.",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(IntegrityError, _on_conflict)
    app.add_exception_handler(DataError, _on_unstorable_value)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeout, _on_exhausted_pool)
    app.add_exception_handler(RedisError, _on_shared_state_error)
