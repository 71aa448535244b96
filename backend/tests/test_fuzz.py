"""Generated input against the running API, from the committed OpenAPI: no input may cause a 500, and
every answer must be one the document describes (status, content type, headers, body).

The API runs as a real server process on the test database; schemathesis sends what the schema
allows and what it does not (wrong types, bad UUIDs, missing headers, odd strings): the examples in the
document, boundary and negative cases for each parameter (its coverage phase), then random ones.

Each operation is its own test (`test_fuzz_<operationId>`), so a run reports every one of them, and the
last test fails when fewer operations were fuzzed than the document has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import DatabaseUnderTest, running_api, truncate_all

BACKEND = Path(__file__).resolve().parents[1]
DOCUMENT = json.loads((BACKEND / "openapi.json").read_text())
OPERATIONS = {
    op["operationId"]: f"{method.upper()} {path}"
    for path, ops in DOCUMENT["paths"].items()
    for method, op in ops.items()
}
schema = schemathesis.openapi.from_path(BACKEND / "openapi.json")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Random cases per operation, after its examples and coverage cases: enough to vary every parameter,
# few enough that all operations run in about a minute.
RANDOM_CASES = 12
FUZZED: set[str] = set()  # "METHOD /path" of every operation that was sent at least one case


@pytest.fixture(autouse=True)
def _empty_tables() -> None:
    """The fuzzing organisation must live for the whole module; `live_api` cleans up after it."""


@pytest.fixture(scope="module")
def live_api(test_database: DatabaseUnderTest) -> Iterator[tuple[str, dict[str, str]]]:
    env = {
        **os.environ,
        "KEEL_LOG_LEVEL": "WARNING",
        "KEEL_PLAN_RATE_LIMITS": '{"standard": "100000/minute"}',
    }
    created = subprocess.run(
        [sys.executable, "-m", "keel", "orgs", "create", "Fuzz Org", "fuzz-org"],
        env=env,
        cwd=BACKEND,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr[-2000:]
    key = re.search(r"keel_sk_[A-Za-z0-9_-]+", created.stdout)
    assert key, created.stdout
    try:
        with running_api(env) as (base,):
            yield base, {"Authorization": f"Bearer {key.group(0)}"}
    finally:
        truncate_all(test_database)


def _call(case: schemathesis.Case[Any], live_api: tuple[str, dict[str, str]]) -> None:
    base, auth = live_api
    FUZZED.add(case.operation.label)
    response = case.call(base_url=base, headers=auth)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json"), (
            response.status_code,
            response.text[:200],
        )


def _fuzz(operation_id: str) -> Any:
    # One test function per operation: schemathesis' own parametrisation gives all of them one pytest id,
    # so parallel workers (which schedule by id) ran one operation in place of all.
    @pytest.mark.slow
    @schema.include(operation_id=operation_id).parametrize()
    @settings(
        max_examples=RANDOM_CASES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def test(case: schemathesis.Case[Any], live_api: tuple[str, dict[str, str]]) -> None:
        _call(case, live_api)

    test.__name__ = test.__qualname__ = f"test_fuzz_{operation_id}"
    test.__doc__ = f"{OPERATIONS[operation_id]}: generated input gets only documented answers, never a 500."
    return test


for _operation_id in OPERATIONS:
    globals()[f"test_fuzz_{_operation_id}"] = _fuzz(_operation_id)


@pytest.mark.slow
def test_every_operation_in_the_document_was_fuzzed(request: pytest.FixtureRequest) -> None:
    """Runs after the fuzz tests (pytest keeps a module's order): each operation of openapi.json has a
    test of its own (so no scheduler can fold them into one id), and, in one process, each operation
    whose test ran was actually sent generated input."""
    defined = sorted(name.removeprefix("test_fuzz_") for name in globals() if name.startswith("test_fuzz_"))
    assert defined == sorted(OPERATIONS), "an operation of openapi.json has no fuzz test of its own"
    ran = {
        item.originalname.removeprefix("test_fuzz_")
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname.startswith("test_fuzz_")
    }
    if "PYTEST_XDIST_WORKER" not in os.environ:  # under workers, each process runs a share of them
        missed = {OPERATIONS[operation] for operation in ran} - FUZZED
        assert not missed, f"{len(missed)} of {len(ran)} operations were never fuzzed: {sorted(missed)}"
