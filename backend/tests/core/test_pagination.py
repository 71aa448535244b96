"""Keyset pagination on the list endpoints: `limit`, an opaque `cursor`, `next_cursor`; newest first.
Other orders (`sort`) are in test_list_sorting.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import Org

KEYS = "/api/v1/api-keys"
EVENTS = "/api/v1/audit-events"
LISTS = [KEYS, EVENTS]


async def issue_keys(client: httpx.AsyncClient, org: Org, count: int) -> list[str]:
    ids = []
    for i in range(count):
        response = await client.post(KEYS, json={"name": f"key {i}"}, headers=org.headers)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


async def walk(
    client: httpx.AsyncClient, org: Org, path: str, limit: int, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page of `path`, following next_cursor until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=org.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not terminate"


def encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("path", LISTS)
async def test_limit_2_over_5_rows_walks_every_row_once_newest_first_and_ends_with_a_null_cursor(
    client: httpx.AsyncClient, org_a: Org, path: str
) -> None:
    await issue_keys(client, org_a, 4)  # + the onboarding key and its audit event = 5 of each
    everything = (await client.get(path, params={"limit": 200}, headers=org_a.headers)).json()
    assert len(everything["items"]) == 5
    assert everything["next_cursor"] is None

    pages = await walk(client, org_a, path, limit=2)

    assert [len(p) for p in pages] == [2, 2, 1]
    ids = [item["id"] for page in pages for item in page]
    assert len(ids) == len(set(ids)) == 5
    assert ids == [item["id"] for item in everything["items"]]
    created = [item["created_at"] for page in pages for item in page]
    assert created == sorted(created, reverse=True)


async def test_the_newest_api_key_comes_first(client: httpx.AsyncClient, org_a: Org) -> None:
    ids = await issue_keys(client, org_a, 3)
    listed = (await client.get(KEYS, params={"limit": 3}, headers=org_a.headers)).json()["items"]
    assert [item["id"] for item in listed] == list(reversed(ids))


async def test_an_exact_multiple_of_the_limit_ends_without_an_empty_page(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    await issue_keys(client, org_a, 3)  # 4 keys
    pages = await walk(client, org_a, KEYS, limit=2)
    assert [len(p) for p in pages] == [2, 2]


@pytest.mark.parametrize("path", LISTS)
async def test_rows_inserted_while_paging_cause_no_duplicates_or_gaps(
    client: httpx.AsyncClient, org_a: Org, path: str
) -> None:
    await issue_keys(client, org_a, 4)
    before = [
        i["id"]
        for i in (await client.get(path, params={"limit": 200}, headers=org_a.headers)).json()["items"]
    ]

    first = (await client.get(path, params={"limit": 2}, headers=org_a.headers)).json()
    await issue_keys(client, org_a, 3)  # newer than everything on the first page
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get(path, params={"limit": 2, "cursor": cursor}, headers=org_a.headers)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor:
            await issue_keys(client, org_a, 1)

    assert seen == before


async def test_filters_apply_on_every_page(client: httpx.AsyncClient, org_a: Org) -> None:
    ids = await issue_keys(client, org_a, 3)
    revoked = await client.delete(f"{KEYS}/{ids[0]}", headers=org_a.headers)
    assert revoked.status_code == 200

    pages = await walk(client, org_a, EVENTS, limit=1, action="api_key.issued")

    actions = [e["action"] for page in pages for e in page]
    assert actions == ["api_key.issued"] * 4
    revocations = (
        await client.get(EVENTS, params={"action": "api_key.revoked"}, headers=org_a.headers)
    ).json()
    assert [e["entity_id"] for e in revocations["items"]] == [ids[0]]


async def test_pages_never_cross_into_another_organisation(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    a_ids = await issue_keys(client, org_a, 2)
    b_ids = await issue_keys(client, org_b, 2)
    a_cursor = (await client.get(KEYS, params={"limit": 1}, headers=org_a.headers)).json()["next_cursor"]

    a_seen = {i["id"] for page in await walk(client, org_a, KEYS, limit=1) for i in page}
    # A cursor from org A's list, replayed by org B, still only shows org B's rows.
    b_with_a_cursor = await client.get(KEYS, params={"cursor": a_cursor}, headers=org_b.headers)

    assert set(a_ids) <= a_seen
    assert not a_seen & set(b_ids)
    assert b_with_a_cursor.status_code == 200
    assert not {i["id"] for i in b_with_a_cursor.json()["items"]} & a_seen


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "x",
        encoded(["not a date", "00000000-0000-0000-0000-000000000000"]),
        encoded(["2024-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]),  # naive
        encoded(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        encoded(["2024-01-01T00:00:00+00:00"]),
        encoded(["2024-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000", 3]),
        encoded(["-created_at", "2024-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]),  # naive
        encoded(["-created_at", 1704067200, "00000000-0000-0000-0000-000000000000"]),
        encoded(["-created_at", None, "00000000-0000-0000-0000-000000000000"]),
        encoded(["-created_at", "2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        encoded(["created_at", "2024-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"]),
        encoded(["-name", "2024-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"]),
        encoded({"a": 1, "b": 2}),
        encoded([1, 2]),
        encoded(None),
        encoded("ab"),
        encoded(12),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    ],
)
async def test_a_cursor_this_api_did_not_issue_is_refused_with_400_problem(
    client: httpx.AsyncClient, org_a: Org, path: str, cursor: str
) -> None:
    response = await client.get(path, params={"cursor": cursor}, headers=org_a.headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["title"] == "Invalid cursor"
    assert problem["detail"]


@pytest.mark.parametrize(
    "cursor",
    [
        encoded(["-created_at", "0001-01-01T00:00:00+01:00", "00000000-0000-0000-0000-000000000000"]),
        encoded(["-created_at", "9999-12-31T23:59:59-14:00", "ffffffff-ffff-ffff-ffff-ffffffffffff"]),
        encoded(["-created_at", "2000-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"]),
    ],
)
async def test_a_well_formed_cursor_at_the_edges_of_time_answers_without_error(
    client: httpx.AsyncClient, org_a: Org, cursor: str
) -> None:
    response = await client.get(KEYS, params={"cursor": cursor}, headers=org_a.headers)
    assert response.status_code == 200, response.text


async def test_an_overlong_cursor_is_refused_with_422(client: httpx.AsyncClient, org_a: Org) -> None:
    response = await client.get(KEYS, params={"cursor": "a" * 2049}, headers=org_a.headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.cursor"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", ["0", "-1", "201", "1000", "two", "1.5", ""])
async def test_a_limit_outside_1_to_200_is_refused_with_422_naming_the_limit(
    client: httpx.AsyncClient, org_a: Org, path: str, limit: str
) -> None:
    response = await client.get(path, params={"limit": limit}, headers=org_a.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["query.limit"]


@pytest.mark.parametrize("limit", [1, 200])
async def test_the_limits_at_the_edges_are_accepted(
    client: httpx.AsyncClient, org_a: Org, limit: int
) -> None:
    response = await client.get(KEYS, params={"limit": limit}, headers=org_a.headers)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


async def test_the_default_page_is_50_rows(client: httpx.AsyncClient, org_a: Org) -> None:
    await issue_keys(client, org_a, 50)
    page = (await client.get(KEYS, headers=org_a.headers)).json()
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
    rest = (await client.get(KEYS, params={"cursor": page["next_cursor"]}, headers=org_a.headers)).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
