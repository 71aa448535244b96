"""Other orders than newest first (`sort=<field>`, `sort=-<field>`) on the CRM lists: every row once,
in order across pages, ties broken by id, records without the key last when ascending; a cursor keeps
to its order; exports and saved views follow the same `sort`."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from keel.main import create_app
from keel.views.schemas import FILTERS, PATHS
from tests.conftest import Org
from tests.deals.test_deals import DEALS, made, move, stages
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here
ACCOUNTS = "/api/v1/accounts"


async def walk(
    client: httpx.AsyncClient, org: Org, path: str, sort: str, limit: int = 2
) -> list[dict[str, Any]]:
    """Every row of `path` in `sort` order, `limit` at a time."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        query = {"sort": sort, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await client.get(path, params=query, headers=org.headers)
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        if (cursor := page.json()["next_cursor"]) is None:
            return rows
    raise AssertionError("pagination does not terminate")


async def test_accounts_sort_by_name_regardless_of_case_with_ties_broken_by_id(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = str((await make_user(org_a)).id)
    names = ["beta", "Alpha", "gamma", "Beta", "alpha", "Delta", "épée"]
    made_ids = set()
    for i, name in enumerate(names):
        headers = {**org_a.headers, "Idempotency-Key": f"account-{i}"}
        answer = await client.post(ACCOUNTS, json={"name": name, "owner_id": rep}, headers=headers)
        made_ids.add(answer.json()["id"])

    ascending = await walk(client, org_a, ACCOUNTS, "name")
    assert {a["id"] for a in ascending} == made_ids and len(ascending) == len(names)
    keys = [(a["name"].lower(), a["id"]) for a in ascending]
    assert keys == sorted(keys)
    assert [a["name"].lower() for a in ascending][:2] == ["alpha", "alpha"]
    descending = await walk(client, org_a, ACCOUNTS, "-name", limit=3)
    assert [a["id"] for a in descending] == [a["id"] for a in reversed(ascending)]
    exported = await client.get(f"{ACCOUNTS}/export", params={"sort": "name"}, headers=org_a.headers)
    assert [line.split(",")[0] for line in exported.text.splitlines()[1:]] == [a["id"] for a in ascending]


async def test_deals_by_close_date_put_undated_deals_last_ascending_and_first_descending(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = str((await make_user(org_a)).id)
    account = await made(client, org_a.headers, ACCOUNTS, name="Acme", owner_id=rep)
    dates = ["2027-03-01", None, "2027-01-15", None, "2027-03-01", None, "2026-12-31"]
    for i, close in enumerate(dates):
        await made(
            client,
            org_a.headers,
            DEALS,
            name=f"Deal {i}",
            account_id=account["id"],
            expected_close_date=close,
            owner_id=rep,
        )

    # Pages of 2 end on an undated deal, so the cursor carries a missing close date too.
    ascending = await walk(client, org_a, DEALS, "expected_close_date")
    assert [d["expected_close_date"] for d in ascending] == [
        "2026-12-31", "2027-01-15", "2027-03-01", "2027-03-01", None, None, None,
    ]  # fmt: skip
    undated = [d["id"] for d in ascending if d["expected_close_date"] is None]
    assert undated == sorted(undated)
    for limit in (1, 2, 3):
        descending = await walk(client, org_a, DEALS, "-expected_close_date", limit=limit)
        assert [d["id"] for d in descending] == [d["id"] for d in reversed(ascending)]


async def test_a_recently_changed_record_leads_the_list_by_updated_at(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = str((await make_user(org_a)).id)
    account = await made(client, org_a.headers, ACCOUNTS, name="Acme", owner_id=rep)
    deals = [
        await made(client, org_a.headers, DEALS, name=n, account_id=account["id"], owner_id=rep)
        for n in ("First", "Second", "Third")
    ]
    proposal = (await stages(client, org_a))["Proposal"]
    assert (await move(client, org_a.headers, deals[0], stage_id=proposal)).status_code == 200
    names = [d["name"] for d in await walk(client, org_a, DEALS, "-updated_at")]
    assert names == ["First", "Third", "Second"]
    assert [d["name"] for d in await walk(client, org_a, DEALS, "-created_at")] == [
        "Third", "Second", "First",
    ]  # fmt: skip


async def test_a_cursor_continues_only_the_order_it_came_from(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = str((await make_user(org_a)).id)
    for name in ("A", "B", "C"):
        await made(client, org_a.headers, ACCOUNTS, name=name, owner_id=rep)
    by_name = await client.get(ACCOUNTS, params={"sort": "name", "limit": 1}, headers=org_a.headers)
    cursor = by_name.json()["next_cursor"]

    replayed = await client.get(ACCOUNTS, params={"cursor": cursor}, headers=org_a.headers)
    assert replayed.status_code == 400
    assert replayed.headers["content-type"] == "application/problem+json"
    assert "'name'" in replayed.json()["detail"]
    # A forged cursor whose key has the wrong type for the order is refused too.
    forged = base64.urlsafe_b64encode(
        json.dumps(["name", 12, "00000000-0000-0000-0000-000000000000"]).encode()
    ).decode()
    wrong = await client.get(ACCOUNTS, params={"sort": "name", "cursor": forged}, headers=org_a.headers)
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    ("path", "sort"),
    [
        (ACCOUNTS, "amount"),
        (ACCOUNTS, "--name"),
        (ACCOUNTS, "name,created_at"),
        (ACCOUNTS, "owner_id"),
        (DEALS, "amount_minor"),  # no ranking by an amount some readers may not see
        ("/api/v1/contacts", "name"),
        ("/api/v1/tickets", "due_at"),
        ("/api/v1/activities", ""),
    ],
)
async def test_an_order_a_list_does_not_offer_is_refused_with_422(
    client: httpx.AsyncClient, org_a: Org, path: str, sort: str
) -> None:
    answer = await client.get(path, params={"sort": sort}, headers=org_a.headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["query.sort"]


def test_saved_view_filters_are_the_query_parameters_of_their_list() -> None:
    document = create_app().openapi()
    for record_type, path in PATHS.items():
        parameters = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
        assert FILTERS[record_type] | {"sort"} <= parameters - {"limit", "cursor"}, record_type
        assert parameters - {"limit", "cursor", "sort"} <= FILTERS[record_type], record_type
