"""The committed OpenAPI document is the contract clients are generated from: it must not drift, and it
must say everything an operation can answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from keel.main import create_app

COMMITTED = Path(__file__).resolve().parents[1] / "openapi.json"
DOCUMENT: dict[str, Any] = json.loads(COMMITTED.read_text())
PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}
PROBLEM_JSON = "application/problem+json"
READS = {"get", "head", "options"}


def api_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in DOCUMENT["paths"].items():
        if path.startswith("/api/v1/"):
            for method, op in ops.items():
                yield method, path, op


def test_committed_openapi_matches_the_app() -> None:
    live = json.loads(json.dumps(create_app().openapi(), sort_keys=True))
    assert live == DOCUMENT, "OpenAPI drifted: run `make openapi` and commit backend/openapi.json"


def test_operation_ids_are_unique_snake_case_business_names() -> None:
    ids = [op["operationId"] for ops in DOCUMENT["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", op_id) for op_id in ids)
    assert {"get_organization", "update_organization", "issue_api_key", "list_audit_events"} <= set(ids)


def test_every_api_operation_documents_what_it_can_answer() -> None:
    assert DOCUMENT["openapi"].startswith("3.1")
    for method, path, op in api_operations():
        parameters = op.get("parameters", [])
        body = "requestBody" in op
        expected = {"401", "403", "413", "429", "500", "503"}
        if parameters or body:
            expected.add("422")
        if body:
            expected |= {"400", "408", "415"}
        if any(p["in"] == "path" for p in parameters):
            expected.add("404")
        if method not in READS:
            expected.add("409")
        if any(p["name"] == "cursor" for p in parameters):
            expected.add("400")
        responses = op["responses"]
        assert expected <= set(responses), (method, path, sorted(expected - set(responses)))
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"]["application/problem+json"]["schema"] == PROBLEM, (path, status)
                assert response["description"], (method, path, status)


def test_errors_are_documented_only_as_problem_json() -> None:
    """Keel answers every error as RFC 9457 problem+json, never as plain `application/json`."""
    assert "ProblemDetails" in DOCUMENT["components"]["schemas"]
    errors = 0
    for path, ops in DOCUMENT["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status[0] in "45":
                    errors += 1
                    content = response.get("content", {})
                    assert set(content) == {PROBLEM_JSON}, (method, path, status, sorted(content))
                    assert content[PROBLEM_JSON]["schema"] == PROBLEM, (method, path, status)
    assert errors > 100


def test_problem_responses_carry_their_headers() -> None:
    for method, path, op in api_operations():
        responses = op["responses"]
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"], (method, path)
        assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
            responses["429"]["headers"]
        ), (method, path)
        assert "Retry-After" in responses["503"]["headers"], (method, path)


def test_updates_require_if_match_and_document_412_and_428() -> None:
    updates = 0
    for method, path, op in api_operations():
        if_match = [p for p in op.get("parameters", []) if p["name"] == "If-Match"]
        if method in ("patch", "put") and _answers_a_version(op):
            assert if_match, f"{method.upper()} {path} changes a versioned resource without If-Match"
        if not if_match:
            continue
        updates += 1
        assert method in ("patch", "put"), (method, path)
        assert if_match == [{**if_match[0], "in": "header", "required": True}], (method, path)
        assert {"412", "428"} <= set(op["responses"]), (method, path)
        assert "ETag" in op["responses"]["200"]["headers"], (method, path)
    assert updates >= 12


def _answers_a_version(op: dict[str, Any]) -> bool:
    schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    properties = DOCUMENT["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
    return "version" in properties


def test_idempotency_key_is_optional_and_documents_replays_and_reuse() -> None:
    creating = 0
    for method, path, op in api_operations():
        key = [p for p in op.get("parameters", []) if p["name"] == "Idempotency-Key"]
        success = min(s for s in op["responses"] if s.startswith("2"))
        if method == "post" and success in ("201", "202"):  # converting a lead again answers 200: no key
            assert key, f"POST {path} creates without Idempotency-Key"
        if not key:
            continue
        creating += 1
        assert key[0]["in"] == "header" and key[0]["required"] is False, (method, path)
        assert {"400", "409", "422"} <= set(op["responses"]), (method, path)
        assert "Idempotent-Replayed" in op["responses"][success]["headers"], (method, path)
    assert creating >= 15


MAIN_OPERATIONS = [
    "create_account", "get_account", "list_accounts", "update_account",
    "create_contact", "get_contact", "list_contacts", "update_contact",
    "create_deal", "get_deal", "list_deals", "update_deal",
    "create_lead", "get_lead", "list_leads", "update_lead",
    "get_organization", "update_organization",
    "list_members", "change_member_role",
    "invite_member", "list_invitations",
    "issue_api_key", "list_api_keys",
    "list_audit_events",
]  # fmt: skip


def _operation(operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in api_operations() if op["operationId"] == operation_id)


def _component(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])


@pytest.mark.parametrize("operation_id", MAIN_OPERATIONS)
def test_main_operations_show_request_and_response_examples(operation_id: str) -> None:
    op = _operation(operation_id)
    if "requestBody" in op:
        body = _component(op["requestBody"]["content"]["application/json"]["schema"])
        assert body.get("examples"), f"{operation_id}: no request example"
    success = next(op["responses"][s] for s in ("200", "201") if s in op["responses"])
    media = success["content"]["application/json"]
    assert "example" in media or _component(media["schema"]).get("examples"), (
        f"{operation_id}: no response example"
    )


def _request_schemas() -> Iterator[str]:
    for _, _, op in api_operations():
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            yield schema["$ref"]


@pytest.mark.parametrize("ref", sorted(set(_request_schemas())))
def test_request_examples_are_valid_requests(ref: str) -> None:
    """Generated requests start from these (schemathesis' examples phase): they must be what the API takes."""
    validator = jsonschema_rs.validator_for({"$ref": ref, "components": DOCUMENT["components"]})
    for example in _component({"$ref": ref}).get("examples", []):
        assert validator.is_valid(example), [e.message for e in validator.iter_errors(example)]


def _response_examples() -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every example a response shows, with the schema it must match: the media type's own (a list's
    page) and the examples of every component (the models')."""
    for method, path, op in api_operations():
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                shown = [media["example"]] if "example" in media else []
                shown += [named["value"] for named in media.get("examples", {}).values() if "value" in named]
                for example in shown:
                    yield f"{method} {path} {status} {media_type}", media["schema"], example
    for name, component in DOCUMENT["components"]["schemas"].items():
        for example in component.get("examples", []):
            yield name, {"$ref": f"#/components/schemas/{name}"}, example


def test_every_example_is_valid_for_its_schema() -> None:
    """As a client reads the document: `null` members included, formats checked."""
    checked = 0
    for where, schema, example in _response_examples():
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": DOCUMENT["components"]}, validate_formats=True
        )
        assert validator.is_valid(example), (where, [e.message for e in validator.iter_errors(example)])
        checked += 1
    assert checked >= 30


def _nulls(value: Any) -> int:
    if isinstance(value, dict):
        return sum(v is None or _nulls(v) for v in value.values())
    if isinstance(value, list):
        return sum(_nulls(v) for v in value)
    return 0


def test_examples_keep_their_null_members() -> None:
    """The document shows each model's examples as declared, `null` members and all."""
    create_app()
    components = DOCUMENT["components"]["schemas"]
    shown = 0
    for model in _models_with_examples():
        title = model.model_config.get("title") or model.__name__
        for name, component in components.items():
            if component.get("title") == title and "examples" in component:
                declared = model.model_config.get("json_schema_extra")
                assert isinstance(declared, dict)
                assert component["examples"] == jsonable_encoder(declared["examples"]), name
                shown += 1
    assert shown >= 20
    assert _nulls(components["ApiKeyOut"]["examples"]), "revoked_at is null in the example"
    page = _operation("list_api_keys")["responses"]["200"]["content"]["application/json"]["example"]
    assert _nulls(page["items"]), "list examples keep their nulls too"


def _models_with_examples(model: type[BaseModel] = BaseModel) -> Iterator[type[BaseModel]]:
    for sub in model.__subclasses__():
        extra = sub.model_config.get("json_schema_extra")
        if sub.__module__.startswith("keel.") and isinstance(extra, dict) and "examples" in extra:
            yield sub
        yield from _models_with_examples(sub)


def test_every_example_is_valid_for_its_model() -> None:
    """Including the models the document does not show (import rows): each example is what its model
    takes."""
    create_app()
    models = set(_models_with_examples())
    assert len(models) >= 20
    for model in models:
        extra = model.model_config.get("json_schema_extra")
        assert isinstance(extra, dict)
        for example in extra["examples"]:  # type: ignore[union-attr]
            model.model_validate(example)
