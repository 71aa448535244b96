"""Every status an /api/v1 operation can answer, documented from what the operation is made of.

`document_operations` walks each route of the API's routers once, when they are composed
(keel.registry), and adds to the route's `responses` the problems its parts can cause:

- a JSON body: malformed JSON (400), a body read timeout (408), a body that is not JSON (415) and
  validation (422); any parameter: validation (422); a path parameter: 404; a method that writes: 409
  (a constraint, or a collision with a concurrent change);
- dependencies declared with `answers` (or `declare_answers`, for one defined elsewhere), such as
  pagination's invalid cursor (400);
- headers declared with `declare_header`: If-Match (412, 428, documented as required) and
  Idempotency-Key (400, 408, 409, 422), with the headers their success responses carry.

What every operation can answer (401, 403, 413, 429, 500, 503) is `PROBLEM_RESPONSES`, added by the
/api/v1 router. A route names the statuses its service raises with `responses=problem_docs({...})`; the
walker adds the causes it finds to those entries, so a new route is documented whole by construction.

`install_openapi` finishes the document FastAPI writes, once per build: every error response is
`application/problem+json` only (what Keel answers), and examples keep their `null` members.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_fields_from_routes
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import BaseRoute

from keel.core.errors import (
    PROBLEM_JSON,
    PROBLEM_RESPONSES,
    ProblemDetails,
    Responses,
    joined_reasons,
    problem_doc,
)
from keel.core.pagination import page_params

Reasons = Mapping[int, str]
F = TypeVar("F", bound=Callable[..., Any])

VALIDATION = "Validation failed: `errors[]` names each invalid body field, parameter or header"
BODY: Reasons = {
    400: "The body is not valid JSON",
    408: "The body did not arrive within the read timeout",
    415: "The body is not JSON: send `application/json`",
    422: VALIDATION,
}
NOT_FOUND = "Not found in the caller's organisation"
CONFLICT = "The change conflicts with the current state, or collided with a concurrent one: reload or retry"
# Reads that write an audit event (exports, downloads) can collide on the audit chain like any write.
AUDITED_READ: Reasons = {
    409: "Recording the read in the audit trail collided with a concurrent change: retry",
}
EXPORT_LIMIT: Reasons = {429: "The organisation's export limit was reached"}
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class HeaderDeclaration:
    """What a request header brings to every operation that takes it."""

    answers: Reasons
    # Documented in place of the generated parameter, which the header hides (`include_in_schema=False`):
    # FastAPI cannot mark a header required that the handler reads as optional (to answer 428 itself).
    parameter: dict[str, Any] | None = None
    success_headers: Mapping[str, dict[str, Any]] = field(default_factory=dict)


_BY_DEPENDENCY: dict[object, dict[int, str]] = {}
_BY_HEADER: dict[str, HeaderDeclaration] = {}


def declare_answers(dependency: object, reasons: Reasons) -> None:
    """Every operation that depends on `dependency` (a function, or the class of a callable object)
    can answer these statuses."""
    _BY_DEPENDENCY.setdefault(dependency, {}).update(reasons)


def answers(reasons: Reasons) -> Callable[[F], F]:
    """`@answers({400: "close_from is after close_to"})` on a dependency."""

    def mark(dependency: F) -> F:
        declare_answers(dependency, reasons)
        return dependency

    return mark


def declare_header(name: str, declaration: HeaderDeclaration) -> None:
    _BY_HEADER[name.lower()] = declaration


declare_answers(
    page_params, {400: "The cursor is not one this API issued, or continues a list sorted another way"}
)


# What a `next_cursor` looks like (opaque to clients: the sort and the last row's key, base64url).
_CURSOR = (
    "WyItY3JlYXRlZF9hdCIsIjIwMjYtMTEtMDJUMDk6MzA6MDArMDA6MDAiLCIzZmE4NWY2NC01NzE3"
    "LTQ1NjItYjNmYy0yYzk2M2Y2NmFmYTYiXQ"
)


def _declared_examples(model: type[BaseModel]) -> list[Any] | None:
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return examples if isinstance(examples, list) and examples else None


def _examples(model: type[BaseModel]) -> list[Any]:
    examples = _declared_examples(model)
    if examples is None:
        raise ValueError(f"{model.__name__} has no examples")
    return examples[:1]


def page_example(model: type[BaseModel]) -> Responses:
    """For `responses=` of a list: a page of `model`'s example, as the list answers it."""
    page = {"items": _examples(model), "next_cursor": _CURSOR}
    return {200: {"content": {"application/json": {"example": page}}}}


def list_example(model: type[BaseModel]) -> Responses:
    """For `responses=` of an unpaged list (`list[model]`)."""
    return {200: {"content": {"application/json": {"example": _examples(model)}}}}


def document_operations(routers: Iterable[APIRouter]) -> list[APIRouter]:
    """Document what every route of `routers` can answer; returns them for the composition root."""
    routers = list(routers)
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                _document(route)
    return routers


def _dependants(dependant: Dependant) -> Iterable[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _document(route: APIRoute) -> None:
    found: dict[int, list[str]] = {}

    def add(reasons: Reasons) -> None:
        for status, reason in reasons.items():
            found.setdefault(status, []).append(reason)

    dependants = list(_dependants(route.dependant))
    if route.body_field is not None:
        add(BODY)
    if any(d.path_params or d.query_params or d.header_params or d.cookie_params for d in dependants):
        add({422: VALIDATION})
    if any(d.path_params for d in dependants):
        add({404: NOT_FOUND})
    if (route.methods or set()) - _READS:
        add({409: CONFLICT})
    parameters: list[dict[str, Any]] = []
    success_headers: dict[str, dict[str, Any]] = {}
    for dependant in dependants:
        call = dependant.call
        for key in (call, type(call)):
            if isinstance(key, Hashable) and (declared := _BY_DEPENDENCY.get(key)):
                add(declared)
        for header in dependant.header_params:
            declaration = _BY_HEADER.get(header.alias.lower())
            if declaration is None:
                continue
            add(declaration.answers)
            success_headers.update(declaration.success_headers)
            if declaration.parameter is not None:
                parameters.append(declaration.parameter)

    # Fresh dicts: routes may share the mappings they were declared with.
    responses: Responses = {status: dict(entry) for status, entry in route.responses.items()}
    for status, entry in responses.items():
        universal = PROBLEM_RESPONSES.get(status)
        if isinstance(status, int) and universal is not None:
            # The route's entry replaces the router's: keep what that one says.
            found.setdefault(status, []).append(universal["description"])
            if "headers" in universal:
                entry["headers"] = {**universal["headers"], **entry.get("headers", {})}
    for status, reasons in sorted(found.items()):
        if status in responses:
            explicit = responses[status]
            explicit["description"] = joined_reasons([explicit.get("description", ""), *reasons])
        else:
            responses[status] = problem_doc(joined_reasons(reasons))
    if success_headers:
        success = responses.setdefault(route.status_code or 200, {})
        success["headers"] = {**success.get("headers", {}), **success_headers}
    route.responses = responses
    if parameters:
        extra = dict(route.openapi_extra or {})
        named = {p["name"] for p in parameters}
        kept = [p for p in extra.get("parameters", []) if p.get("name") not in named]
        extra["parameters"] = kept + parameters
        route.openapi_extra = extra


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetails"}


def install_openapi(app: FastAPI) -> None:
    """Serve (and write, `keel openapi`) the finished document. FastAPI still builds and caches it, and
    builds it again when routes change; each document it builds is finished once, in place."""
    build = app.openapi
    finished: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal finished
        document = build()
        if document is not finished:
            finish_document(document, app.routes)
            finished = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def finish_document(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    _restore_examples(document, routes)
    _problem_json_only(document)


def _problem_json_only(document: dict[str, Any]) -> None:
    """FastAPI lists `application/json` next to problem+json for every response that names a model;
    Keel answers errors only as problem+json (RFC 9457)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in ("4", "5"):
                    media = response.get("content", {}).get(PROBLEM_JSON, {})
                    response["content"] = {PROBLEM_JSON: {**media, "schema": PROBLEM_SCHEMA}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "ProblemDetails" not in schemas:  # no operation named the model (a document without /api/v1)
        problem = ProblemDetails.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="serialization"
        )
        for name, schema in problem.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        schemas["ProblemDetails"] = problem


def _restore_examples(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """FastAPI writes the document without `None` values, examples included, so an example's `null`
    members go missing and it no longer matches its schema. Put back the examples as the code declares
    them, JSON-encoded: the responses' own (`page_example`) and the models' (`json_schema_extra`).
    Written, not re-dumped through the model: a PATCH example dumped would gain a `null` for every
    member it leaves out, and mean something else."""
    paths = document.get("paths", {})
    for context in iter_route_contexts(routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        for method in context.methods or ():
            operation = paths.get(context.path_format, {}).get(method.lower())
            if operation is None:
                continue
            for status, entry in context.responses.items():
                documented = operation.get("responses", {}).get(str(status), {}).get("content", {})
                for media_type, media in entry.get("content", {}).items():
                    for key in ("example", "examples"):
                        if key in media and media_type in documented:
                            documented[media_type][key] = jsonable_encoder(media[key])

    declared: dict[str, list[list[Any]]] = {}
    for model in _documented_models(routes):
        examples = _declared_examples(model)
        if examples is not None:
            title = model.model_config.get("title") or model.__name__
            declared.setdefault(title, []).append(jsonable_encoder(examples))
    for schema in document.get("components", {}).get("schemas", {}).values():
        if "examples" not in schema:
            continue
        # The model of a component is the one of its title whose examples FastAPI wrote like this.
        written = [
            examples
            for examples in declared.get(schema.get("title", ""), [])
            if jsonable_encoder(examples, exclude_none=True) == schema["examples"]
        ]
        if written and all(examples == written[0] for examples in written):
            schema["examples"] = written[0]


def _documented_models(routes: Sequence[BaseRoute]) -> set[type[BaseModel]]:
    """The models the document describes: those of every body, parameter and response, and theirs."""
    found: set[type[BaseModel]] = set()
    for model_field in get_fields_from_routes(routes):
        _models_in(model_field.field_info.annotation, found)
    return found


def _models_in(annotation: Any, found: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found.add(annotation)
            for model_field in annotation.model_fields.values():
                _models_in(model_field.annotation, found)
            for computed in annotation.model_computed_fields.values():
                _models_in(computed.return_type, found)
        return
    for argument in get_args(annotation):
        _models_in(argument, found)
