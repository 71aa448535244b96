"""Generated input against the running API, from the committed OpenAPI: no input may cause a 500.

The API runs as a real server process on the test database; schemathesis sends what the schema
allows and what it does not (wrong types, bad UUIDs, missing headers, odd strings).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import DatabaseUnderTest, running_api, truncate_all

BACKEND = Path(__file__).resolve().parents[1]
schema = schemathesis.openapi.from_path(BACKEND / "openapi.json")


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
        check=True,
    )
    key = re.search(r"keel_sk_[A-Za-z0-9_-]+", created.stdout)
    assert key, created.stdout
    try:
        with running_api(env) as (base,):
            yield base, {"Authorization": f"Bearer {key.group(0)}"}
    finally:
        truncate_all(test_database)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_input_causes_a_server_error(
    case: schemathesis.Case, live_api: tuple[str, dict[str, str]]
) -> None:
    base, auth = live_api
    response = case.call(base_url=base, headers=auth)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        content_type = response.headers["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (
            response.status_code,
            response.text[:200],
        )
