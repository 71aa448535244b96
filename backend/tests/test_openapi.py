"""The committed OpenAPI document is the contract clients are generated from: it must not drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

from keel.main import create_app

COMMITTED = Path(__file__).resolve().parents[1] / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    live = json.loads(json.dumps(create_app().openapi(), sort_keys=True))
    committed = json.loads(COMMITTED.read_text())
    assert live == committed, "OpenAPI drifted: run `make openapi` and commit backend/openapi.json"


def test_operation_ids_are_unique_snake_case_business_names() -> None:
    document = json.loads(COMMITTED.read_text())
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", op_id) for op_id in ids)
    assert {"get_organization", "update_organization", "issue_api_key", "list_audit_events"} <= set(ids)


def test_every_api_operation_documents_problem_json_errors() -> None:
    document = json.loads(COMMITTED.read_text())
    assert document["openapi"].startswith("3.1")
    for path, ops in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in ops.items():
            for status in ("401", "422", "500"):
                content = op["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)
