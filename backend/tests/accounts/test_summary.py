"""The customer summary: open deals and their value, last activity, open tickets, as the caller may see
them; cached, and never served stale after a committed change, in one process or across two."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import MakeOrg, Org
from tests.deals.test_deals import made, move, stages, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here


async def summary_of(
    client: httpx.AsyncClient, headers: dict[str, str], account: str
) -> tuple[dict[str, Any], str]:
    answer = await client.get(f"/api/v1/accounts/{account}/summary", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["cache-status"]


def figures(summary: dict[str, Any]) -> tuple[Any, ...]:
    return (
        summary["open_deals"],
        summary["open_deal_value"],
        summary["last_activity_at"],
        summary["open_tickets"],
    )


async def test_the_summary_is_cached_and_never_stale_after_a_write(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    owner = {"owner_id": str(rep.id)}
    h = org_a.headers
    stage = await stages(client, org_a)
    account = (await made(client, h, "/api/v1/accounts", name="Acme", **owner))["id"]
    empty, status = await summary_of(client, h, account)
    assert figures(empty) == (0, [], None, 0) and "miss" in status
    assert (await summary_of(client, h, account))[1] == "keel; hit"

    euro = await made(client, h, "/api/v1/deals", name="A", account_id=account, amount_minor=10_000, **owner)
    await made(
        client, h, "/api/v1/deals", name="B", account_id=account, amount_minor=5_000, currency="USD", **owner
    )
    await made(
        client,
        h,
        "/api/v1/deals",
        name="C",
        account_id=account,
        amount_minor=7,
        stage_id=stage["Won"],
        **owner,
    )
    now, status = await summary_of(client, h, account)
    assert "miss" in status
    assert figures(now)[:2] == (
        2,
        [{"currency": "EUR", "amount_minor": 10_000}, {"currency": "USD", "amount_minor": 5_000}],
    )
    # Every kind of change shows at once: the amount, the stage, an activity, a ticket, a removal.
    await move(client, h, euro, amount_minor=12_500)
    assert (await summary_of(client, h, account))[0]["open_deal_value"][0]["amount_minor"] == 12_500
    await move(client, h, euro, stage_id=stage["Won"])
    assert (await summary_of(client, h, account))[0]["open_deals"] == 1
    ticket = await made(client, h, "/api/v1/tickets", subject="Help", account_id=account, **owner)
    assert (await summary_of(client, h, account))[0]["open_tickets"] == 1
    call = await made(
        client,
        h,
        "/api/v1/activities",
        kind="call",
        ticket_id=ticket["id"],
        occurred_at="2026-11-29T10:00:00Z",
        **owner,
    )
    assert (await summary_of(client, h, account))[0]["last_activity_at"] == "2026-11-29T10:00:00Z"
    assert (await summary_of(client, h, account))[1] == "keel; hit"
    await client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"status": "solved"}, headers={**h, "If-Match": '"2"'}
    )
    assert (await summary_of(client, h, account))[0]["open_tickets"] == 0
    assert (await client.delete(f"/api/v1/activities/{call['id']}", headers=h)).status_code == 204
    assert (await summary_of(client, h, account))[0]["last_activity_at"] is None


async def test_each_viewer_sees_their_own_slice_and_support_no_amounts(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    rep_token, support = (
        await token_of(client, rep),
        await token_of(client, await make_user(org_a, "support")),
    )
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    for person, amount in ((rep, 100), (other, 900)):
        await made(
            client,
            org_a.headers,
            "/api/v1/deals",
            name="D",
            account_id=account,
            amount_minor=amount,
            owner_id=str(person.id),
        )
    for _ in range(2):  # computed, then cached: the same answer for each
        mine = (await summary_of(client, rep_token, account))[0]
        assert (mine["open_deals"], mine["open_deal_value"]) == (
            1,
            [{"currency": "EUR", "amount_minor": 100}],
        )
        everything = (await summary_of(client, org_a.headers, account))[0]
        assert everything["open_deal_value"] == [{"currency": "EUR", "amount_minor": 1_000}]
        theirs = (await summary_of(client, support, account))[0]
        assert (theirs["open_deals"], theirs["open_deal_value"]) == (2, None)
    outsider = await token_of(client, other)
    assert (await client.get(f"/api/v1/accounts/{account}/summary", headers=outsider)).status_code == 404


async def test_another_organisations_account_has_no_summary_even_when_cached(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    stranger = await make_user(org_b)
    theirs = (await made(client, org_b.headers, "/api/v1/accounts", name="B", owner_id=str(stranger.id)))[
        "id"
    ]
    await summary_of(client, org_b.headers, theirs)  # cached for org B
    assert (await client.get(f"/api/v1/accounts/{theirs}/summary", headers=org_a.headers)).status_code == 404


@pytest.mark.slow
def test_a_write_through_one_process_is_never_read_stale_through_another(
    two_api_processes: list[str], make_org: MakeOrg, make_user: MakeUser
) -> None:
    writer, reader = two_api_processes
    org = asyncio.run(make_org("Summary"))
    person = asyncio.run(make_user(org))
    h = {**org.headers, "Content-Type": "application/json"}
    account = httpx.post(
        f"{writer}/api/v1/accounts", json={"name": "Acme", "owner_id": str(person.id)}, headers=h
    )
    account_id = account.json()["id"]
    deal = httpx.post(
        f"{writer}/api/v1/deals",
        json={"name": "D", "account_id": account_id, "owner_id": str(person.id)},
        headers=h,
    ).json()
    url = f"{reader}/api/v1/accounts/{account_id}/summary"
    statuses, expected = set(), 0
    for version, amount in enumerate(range(100, 2_100, 100), start=1):
        warm = httpx.get(url, headers=h)  # cached by the reader, if it was not already
        assert warm.json()["open_deal_value"][0]["amount_minor"] == expected
        statuses.add(httpx.get(url, headers=h).headers["cache-status"])
        changed = httpx.patch(
            f"{writer}/api/v1/deals/{deal['id']}",
            json={"amount_minor": amount},
            headers={**h, "If-Match": f'"{version}"'},
        )
        assert changed.status_code == 200, changed.text
        assert httpx.get(url, headers=h).json()["open_deal_value"][0]["amount_minor"] == amount
        expected = amount
    assert statuses == {"keel; hit"}
