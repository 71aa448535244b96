"""What every client can rely on: problem+json errors, request ids, security headers, ETags.

Each bad request is also checked for leaving no trace: the organisation, its keys, its audit trail and
its idempotency keys are read back as the admin afterwards.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from keel.core.config import get_settings
from keel.core.platform import platform_unit_of_work
from keel.main import create_app
from keel.organizations.service import create_organization
from tests.conftest import Org

DatabaseUnderTest = Any  # the conftest fixture type (renamed upstream); only admin_conninfo() is used

ORG = "/api/v1/organization"
KEYS = "/api/v1/api-keys"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


# --- helpers -----------------------------------------------------------------------------------


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str)
    assert body["title"]
    return body  # type: ignore[no-any-return]


async def snapshot(test_database: Any, org_id: object) -> dict[str, Any]:
    """Everything a bad request could have changed for one organisation, read as the admin."""
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo()) as conn:
        org = await (
            await conn.execute(
                "SELECT name, slug, settings, version, updated_at FROM keel.organizations WHERE id = %s",
                (org_id,),
            )
        ).fetchone()
        counts = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM keel.api_keys WHERE org_id = %(o)s),"
                " (SELECT count(*) FROM keel.api_keys WHERE org_id = %(o)s AND revoked_at IS NOT NULL),"
                " (SELECT count(*) FROM keel.audit_events WHERE org_id = %(o)s),"
                " (SELECT count(*) FROM keel.idempotency_keys WHERE org_id = %(o)s)",
                {"o": org_id},
            )
        ).fetchone()
    return {"organization": org, "api_keys/revoked/audit/idempotency": counts}


async def fetch_etag(client: httpx.AsyncClient, org: Org) -> str:
    response = await client.get(ORG, headers=org.headers)
    assert response.status_code == 200
    return response.headers["etag"]


@pytest.fixture
async def fresh_app(app: FastAPI) -> FastAPI:
    """A second application on the same database, for throwaway routes (no lifespan: the pool is shared)."""
    return create_app()


def client_for(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://keel.test")


# --- problem+json for every kind of bad request ------------------------------------------------


async def test_malformed_json_is_refused_with_400_problem_and_changes_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.post(
        KEYS,
        content=b'{"name": "ci",',
        headers={**org_a.headers, "Content-Type": "application/json", "Idempotency-Key": "k1"},
    )
    body = assert_problem(response, 400)
    assert body["detail"]
    assert await snapshot(test_database, org_a.id) == before


async def test_malformed_json_on_patch_is_refused_with_400_problem_and_changes_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    etag = await fetch_etag(client, org_a)
    before = await snapshot(test_database, org_a.id)
    response = await client.patch(
        ORG,
        content=b"{name: 'x'}",
        headers={**org_a.headers, "Content-Type": "application/json", "If-Match": etag},
    )
    assert_problem(response, 400)
    assert await snapshot(test_database, org_a.id) == before


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"settings": {"time_zone": 5}}, "body.settings.time_zone", "string_type"),
        ({"settings": {"fiscal_year_start_month": "march"}}, "body.settings.fiscal_year_start_month", None),
        ({"name": ["a"]}, "body.name", "string_type"),
        ({"settings": "UTC"}, "body.settings", None),
        ({"settings": {"colour": "blue"}}, "body.settings.colour", "extra_forbidden"),
        ({"slug": "new-slug"}, "body.slug", "extra_forbidden"),
        ({"version": 7}, "body.version", "extra_forbidden"),
    ],
)
async def test_wrong_types_and_unknown_fields_on_patch_are_refused_with_422_naming_the_field(
    client: httpx.AsyncClient,
    org_a: Org,
    test_database: Any,
    body: dict[str, Any],
    field: str,
    error_type: str | None,
) -> None:
    etag = await fetch_etag(client, org_a)
    before = await snapshot(test_database, org_a.id)
    response = await client.patch(ORG, json=body, headers={**org_a.headers, "If-Match": etag})
    problem = assert_problem(response, 422)
    assert problem["detail"]
    matching = [e for e in problem["errors"] if e["field"] == field]
    assert matching, problem["errors"]
    assert matching[0]["message"]
    if error_type:
        assert matching[0]["type"] == error_type
    assert await snapshot(test_database, org_a.id) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ci", "scopes": ["all"]}, "body.scopes"),
        ({"name": 42}, "body.name"),
        ({}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"name": "tab\there"}, "body.name"),
        ({"name": "x" * 101}, "body.name"),
        ([], "body"),
    ],
)
async def test_invalid_api_key_bodies_are_refused_with_422_naming_the_field_and_create_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, body: Any, field: str
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.post(KEYS, json=body, headers={**org_a.headers, "Idempotency-Key": "bad-body"})
    problem = assert_problem(response, 422)
    assert field in [e["field"] for e in problem["errors"]], problem["errors"]
    assert await snapshot(test_database, org_a.id) == before


async def test_a_malformed_uuid_in_the_path_is_refused_with_422_naming_the_parameter(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.delete(f"{KEYS}/not-a-uuid", headers=org_a.headers)
    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["path.key_id"]
    assert await snapshot(test_database, org_a.id) == before


async def test_a_missing_api_key_is_refused_with_401_and_a_bearer_challenge(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    before = await snapshot(test_database, org_a.id)
    for method, path in [("GET", ORG), ("GET", KEYS), ("POST", KEYS), ("GET", "/api/v1/audit-events")]:
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "POST" else {}
        response = await client.request(method, path, **kwargs)
        problem = assert_problem(response, 401)
        assert problem["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await snapshot(test_database, org_a.id) == before


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer keel_sk_not-a-real-key",
        "Bearer not-even-the-prefix",
        "Bearer " + "keel_sk_" + "x" * 500,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "keel_sk_without_scheme",
        "",
    ],
)
async def test_an_invalid_api_key_is_refused_with_401_and_a_bearer_challenge(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, authorization: str
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.post(KEYS, json={"name": "x"}, headers={"Authorization": authorization})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await snapshot(test_database, org_a.id) == before


async def test_the_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, org_a: Org) -> None:
    response = await client.get(ORG, headers={"Authorization": f"bearer {org_a.api_key}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", "/api/v2/organization", "/nothing-here", "/api/v1/api-keys/x/y"]
)
async def test_an_unknown_route_answers_404_problem(client: httpx.AsyncClient, org_a: Org, path: str) -> None:
    response = await client.get(path, headers=org_a.headers)
    assert_problem(response, 404)


async def test_a_wrong_method_answers_405_problem_with_an_allow_header(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.put(ORG, json={"name": "x"}, headers=org_a.headers)
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]
    response = await client.patch(KEYS, json={"name": "x"}, headers=org_a.headers)
    assert_problem(response, 405)
    assert "allow" in response.headers
    assert await snapshot(test_database, org_a.id) == before


async def test_the_allow_header_of_a_405_lists_every_method_the_resource_supports(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    """RFC 9110 §15.5.6: Allow lists the resource's methods. /organization supports GET and PATCH."""
    response = await client.put(ORG, json={"name": "x"}, headers=org_a.headers)
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed


async def test_a_taken_slug_on_platform_create_is_a_409_problem_and_writes_nothing(
    fresh_app: FastAPI, org_a: Org, test_database: Any
) -> None:
    async def create_with_taken_slug() -> None:
        async with platform_unit_of_work("tests") as uow:
            await create_organization(uow, "Copycat", org_a.slug)

    fresh_app.add_api_route("/platform-create", create_with_taken_slug, methods=["POST"])
    async with client_for(fresh_app) as http:
        response = await http.post("/platform-create")
    problem = assert_problem(response, 409)
    assert org_a.slug in problem["detail"]
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo()) as conn:
        orgs = await (await conn.execute("SELECT count(*) FROM keel.organizations")).fetchone()
        audits = await (
            await conn.execute(
                "SELECT count(*) FROM keel.platform_audit_events WHERE detail->>'name' = 'Copycat'"
            )
        ).fetchone()
    assert orgs == (1,)
    assert audits == (0,)


async def test_a_stale_if_match_is_refused_with_412_and_changes_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    old = await fetch_etag(client, org_a)
    first = await client.patch(ORG, json={"name": "First"}, headers={**org_a.headers, "If-Match": old})
    assert first.status_code == 200
    before = await snapshot(test_database, org_a.id)

    response = await client.patch(ORG, json={"name": "Second"}, headers={**org_a.headers, "If-Match": old})

    problem = assert_problem(response, 412)
    assert problem["detail"]
    assert await snapshot(test_database, org_a.id) == before
    assert (await client.get(ORG, headers=org_a.headers)).json()["name"] == "First"


@pytest.mark.parametrize("if_match", ['"999"', "*", "1", '"abc"', '""', 'W/"', '"1", "2"', '"-1"'])
async def test_an_if_match_that_does_not_name_the_current_version_is_refused_with_412(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, if_match: str
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.patch(
        ORG, json={"name": "Other"}, headers={**org_a.headers, "If-Match": if_match}
    )
    assert_problem(response, 412)
    assert await snapshot(test_database, org_a.id) == before


async def test_a_missing_if_match_is_refused_with_428_and_changes_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    before = await snapshot(test_database, org_a.id)
    response = await client.patch(ORG, json={"name": "Blind write"}, headers=org_a.headers)
    problem = assert_problem(response, 428)
    assert "If-Match" in problem["detail"]
    assert await snapshot(test_database, org_a.id) == before


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"name": "ci"}'),
        ("application/x-www-form-urlencoded", b"name=ci"),
        (
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nci\r\n--xyz--\r\n',
        ),
        ("application/xml", b"<name>ci</name>"),
        (None, b'{"name": "ci"}'),
    ],
)
async def test_a_body_that_is_not_json_is_refused_with_415_and_creates_nothing(
    client: httpx.AsyncClient,
    org_a: Org,
    test_database: Any,
    content_type: str | None,
    content: bytes,
) -> None:
    before = await snapshot(test_database, org_a.id)
    headers = {**org_a.headers}
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post(KEYS, content=content, headers=headers)
    problem = assert_problem(response, 415)
    assert "application/json" in problem["detail"]
    assert await snapshot(test_database, org_a.id) == before


async def test_form_data_on_patch_is_refused_with_415(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    etag = await fetch_etag(client, org_a)
    before = await snapshot(test_database, org_a.id)
    response = await client.patch(ORG, data={"name": "Form"}, headers={**org_a.headers, "If-Match": etag})
    assert_problem(response, 415)
    assert await snapshot(test_database, org_a.id) == before


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_json_media_types_with_parameters_or_suffixes_are_accepted(
    client: httpx.AsyncClient, org_a: Org, content_type: str
) -> None:
    etag = await fetch_etag(client, org_a)
    response = await client.patch(
        ORG,
        content=b'{"name": "Renamed"}',
        headers={**org_a.headers, "If-Match": etag, "Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed"


async def test_too_many_requests_are_refused_with_429_retry_after_and_ratelimit_headers(
    client: httpx.AsyncClient,
    org_a: Org,
    org_b: Org,
    test_database: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "plan_rate_limits", {"standard": "3/minute"})
    # The in-process limiter counts in minute windows and weighs the last window down as the new one
    # goes on (limits' sliding-window counter): requests just before and just after a minute's turn may
    # then exceed the limit by a fraction. Start well clear of the turn so the four requests share one.
    if (into_minute := time.time() % 60) > 45:
        await asyncio.sleep(60.5 - into_minute)
    for _ in range(3):
        assert (await client.get(ORG, headers=org_a.headers)).status_code == 200
    before = await snapshot(test_database, org_a.id)

    response = await client.post(KEYS, json={"name": "one too many"}, headers=org_a.headers)

    problem = assert_problem(response, 429)
    assert problem["detail"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert response.headers["ratelimit-limit"] == "3"
    assert response.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert await snapshot(test_database, org_a.id) == before
    # The limit is per organisation: another one is not throttled by org A's traffic.
    assert (await client.get(ORG, headers=org_b.headers)).status_code == 200


async def test_an_unexpected_error_is_a_500_problem_without_internals(fresh_app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("secret detail")

    fresh_app.add_api_route("/explode", explode, methods=["GET"])
    async with client_for(fresh_app) as http:
        response = await http.get("/explode")

    problem = assert_problem(response, 500)
    assert problem["detail"]
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert "secret detail" not in str(response.headers)


async def test_an_unexpected_error_still_carries_the_request_id_and_security_headers(
    fresh_app: FastAPI,
) -> None:
    """The 500 asks the client to quote the request id, so the response has to carry it."""

    async def explode() -> None:
        raise RuntimeError("secret detail")

    fresh_app.add_api_route("/explode", explode, methods=["GET"])
    async with client_for(fresh_app) as http:
        response = await http.get("/explode", headers={"X-Request-ID": "report-me-42"})

    assert_problem(response, 500)
    assert response.headers.get("x-request-id") == "report-me-42"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value


# --- request ids and security headers ------------------------------------------------------------


async def test_a_valid_request_id_is_echoed_and_recorded_in_the_audit_trail(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    response = await client.post(
        KEYS, json={"name": "traced"}, headers={**org_a.headers, "X-Request-ID": "trace-123:abc.DEF_9"}
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "trace-123:abc.DEF_9"
    events = await client.get(
        "/api/v1/audit-events", params={"action": "api_key.issued"}, headers=org_a.headers
    )
    traced = [e for e in events.json()["items"] if e["entity_id"] == response.json()["id"]]
    assert [e["request_id"] for e in traced] == ["trace-123:abc.DEF_9"]


async def test_a_request_id_is_generated_when_absent_and_differs_per_request(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    first = await client.get(ORG, headers=org_a.headers)
    second = await client.get(ORG, headers=org_a.headers)
    assert GENERATED_ID.match(first.headers["x-request-id"])
    assert GENERATED_ID.match(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "supplied", ["has spaces in it", "x" * 300, "x" * 129, "", "semi;colon", 'quote"d', "new/line", "é"]
)
async def test_an_invalid_request_id_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient, org_a: Org, supplied: str
) -> None:
    response = await client.get(
        ORG,
        headers=[
            *((k.encode(), v.encode()) for k, v in org_a.headers.items()),
            (b"X-Request-ID", supplied.encode()),
        ],
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] != supplied
    assert GENERATED_ID.match(response.headers["x-request-id"])


async def test_a_request_id_of_exactly_128_characters_is_kept(client: httpx.AsyncClient, org_a: Org) -> None:
    supplied = "a" * 128
    response = await client.get(ORG, headers={**org_a.headers, "X-Request-ID": supplied})
    assert response.headers["x-request-id"] == supplied


@pytest.mark.parametrize(
    ("method", "path", "authenticated"),
    [
        ("GET", ORG, True),
        ("GET", ORG, False),
        ("GET", "/api/v1/missing", True),
        ("DELETE", f"{KEYS}/not-a-uuid", True),
        ("GET", "/healthz", False),
        ("GET", "/api/openapi.json", False),
    ],
)
async def test_security_headers_and_a_request_id_are_on_every_response(
    client: httpx.AsyncClient, org_a: Org, method: str, path: str, authenticated: bool
) -> None:
    response = await client.request(method, path, headers=org_a.headers if authenticated else {})
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["x-request-id"]
    assert len(response.headers.get_list("x-request-id")) == 1


# --- ETag and If-Match on the organisation --------------------------------------------------------


async def test_reading_the_organisation_gives_an_etag_of_its_version(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    response = await client.get(ORG, headers=org_a.headers)
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{response.json()["version"]}"'


async def test_a_patch_with_the_current_etag_succeeds_and_bumps_version_and_etag(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    read = await client.get(ORG, headers=org_a.headers)
    version = read.json()["version"]

    response = await client.patch(
        ORG,
        json={"name": "Renamed", "settings": {"time_zone": "Europe/Berlin"}},
        headers={**org_a.headers, "If-Match": read.headers["etag"]},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["version"] == version + 1
    assert body["name"] == "Renamed"
    assert body["settings"]["time_zone"] == "Europe/Berlin"
    assert body["settings"]["default_currency"] == "EUR"  # untouched settings are kept
    assert response.headers["etag"] == f'"{version + 1}"'
    assert response.headers["etag"] != read.headers["etag"]
    again = await client.get(ORG, headers=org_a.headers)
    assert again.headers["etag"] == response.headers["etag"]
    assert again.json()["name"] == "Renamed"
    assert again.json()["updated_at"] > read.json()["updated_at"]


async def test_an_etag_is_good_for_one_write_only(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    etag = await fetch_etag(client, org_a)
    first = await client.patch(ORG, json={"name": "One"}, headers={**org_a.headers, "If-Match": etag})
    assert first.status_code == 200
    before = await snapshot(test_database, org_a.id)
    second = await client.patch(ORG, json={"name": "Two"}, headers={**org_a.headers, "If-Match": etag})
    assert_problem(second, 412)
    assert await snapshot(test_database, org_a.id) == before
    third = await client.patch(
        ORG, json={"name": "Two"}, headers={**org_a.headers, "If-Match": first.headers["etag"]}
    )
    assert third.status_code == 200
    assert third.json()["name"] == "Two"


@pytest.mark.parametrize("form", ['W/"{v}"', ' "{v}" ', ' W/"{v}"'])
async def test_the_weak_and_padded_forms_of_the_current_etag_are_accepted(
    client: httpx.AsyncClient, org_a: Org, form: str
) -> None:
    version = (await client.get(ORG, headers=org_a.headers)).json()["version"]
    response = await client.patch(
        ORG, json={"name": "Weakly"}, headers={**org_a.headers, "If-Match": form.format(v=version)}
    )
    assert response.status_code == 200
    assert response.json()["version"] == version + 1


async def test_a_patch_writes_one_audit_event_with_only_the_changed_fields(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    etag = await fetch_etag(client, org_a)
    response = await client.patch(ORG, json={"name": "Org A2"}, headers={**org_a.headers, "If-Match": etag})
    assert response.status_code == 200
    etag = response.headers["etag"]
    response = await client.patch(
        ORG,
        json={"name": "Org A2", "settings": {"default_currency": "USD", "locale": "en-GB"}},
        headers={**org_a.headers, "If-Match": etag},
    )
    assert response.status_code == 200

    events = (
        await client.get(
            "/api/v1/audit-events", params={"action": "organization.updated"}, headers=org_a.headers
        )
    ).json()["items"]

    assert len(events) == 2
    settings_change, name_change = events  # newest first
    assert name_change["before"] == {"name": "Org A"}
    assert name_change["after"] == {"name": "Org A2"}
    assert name_change["entity_type"] == "organization"
    assert name_change["entity_id"] == str(org_a.id)
    assert name_change["actor"].startswith("api_key:")
    assert set(settings_change["before"]) == {"settings"}
    assert settings_change["before"]["settings"]["default_currency"] == "EUR"
    assert settings_change["after"]["settings"]["default_currency"] == "USD"


@pytest.mark.parametrize(
    "patch", [{}, {"name": "Org A"}, {"settings": {"time_zone": "UTC"}}, {"settings": {}}]
)
async def test_a_patch_that_changes_nothing_keeps_the_version_and_writes_no_audit_event(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, patch: dict[str, Any]
) -> None:
    etag = await fetch_etag(client, org_a)
    before = await snapshot(test_database, org_a.id)
    response = await client.patch(ORG, json=patch, headers={**org_a.headers, "If-Match": etag})
    assert response.status_code == 200
    assert response.headers["etag"] == etag
    assert await snapshot(test_database, org_a.id) == before
