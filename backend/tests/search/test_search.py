"""Search: one box across accounts, contacts and deals, full text plus trigram (misspellings, partial
e-mails), ranked; within the caller's scope and the record types their role reads."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Org
from tests.deals.test_deals import made, token_of
from tests.identity.conftest import MakeUser, authorization_server, join, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here
SEARCH = "/api/v1/search"


async def found(
    client: httpx.AsyncClient, headers: dict[str, str], q: str, **params: Any
) -> list[tuple[str, str]]:
    answer = await client.get(SEARCH, params={"q": q, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    hits = answer.json()
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    return [(h["type"], h["title"]) for h in hits]


@pytest.fixture
async def crm(client: httpx.AsyncClient, org_a: Org, make_user: MakeUser) -> dict[str, Any]:
    rep, other = await make_user(org_a), await make_user(org_a)
    mine, theirs = {"owner_id": str(rep.id)}, {"owner_id": str(other.id)}
    acme = await made(
        client, org_a.headers, "/api/v1/accounts", name="Acme Corporation", domain="acme.example", **mine
    )
    await made(client, org_a.headers, "/api/v1/accounts", name="Globex", **mine)
    await made(client, org_a.headers, "/api/v1/accounts", name="Acme Hidden Branch", **theirs)
    await made(
        client,
        org_a.headers,
        "/api/v1/contacts",
        first_name="Ada",
        last_name="Lovelace",
        email="ada.lovelace@acme.example",
        **mine,
    )
    await made(client, org_a.headers, "/api/v1/contacts", first_name="Charles", last_name="Babbage", **mine)
    await made(
        client,
        org_a.headers,
        "/api/v1/deals",
        name="Acme renewal 2027",
        account_id=acme["id"],
        amount_minor=5,
        **mine,
    )
    return {"rep": rep, "other": other}


async def test_words_misspellings_and_partial_emails_are_found_best_first(
    client: httpx.AsyncClient, org_a: Org, crm: dict[str, Any]
) -> None:
    h = org_a.headers
    acme = await found(client, h, "acme")
    assert set(acme) == {
        ("account", "Acme Corporation"),
        ("account", "Acme Hidden Branch"),
        ("deal", "Acme renewal 2027"),
        ("contact", "Ada Lovelace"),  # by her e-mail address
    }
    assert await found(client, h, "acme renewal") == [("deal", "Acme renewal 2027")]
    assert (await found(client, h, "Lovlace"))[0] == ("contact", "Ada Lovelace")  # misspelled
    assert (await found(client, h, "Babage"))[0] == ("contact", "Charles Babbage")
    assert await found(client, h, "ada.lovel") == [("contact", "Ada Lovelace")]  # part of an address
    assert (await found(client, h, "Globx"))[0] == ("account", "Globex")
    assert await found(client, h, "acme", types=["deal"]) == [("deal", "Acme renewal 2027")]
    assert await found(client, h, "zzzqqq") == []
    assert len(await found(client, h, "acme", limit=2)) == 2


async def test_search_shows_only_what_the_caller_may_see(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser, crm: dict[str, Any]
) -> None:
    stranger = await make_user(org_b)
    await made(client, org_b.headers, "/api/v1/accounts", name="Acme Elsewhere", owner_id=str(stranger.id))
    rep = await token_of(client, crm["rep"])
    assert ("account", "Acme Hidden Branch") not in await found(client, rep, "acme")
    assert ("account", "Acme Corporation") in await found(client, rep, "acme")
    assert all(title != "Acme Elsewhere" for _, title in await found(client, org_a.headers, "acme"))
    # A role that reads no deals finds none.
    no_deals = await made(
        client,
        org_a.headers,
        "/api/v1/roles",
        key="caller",
        name="Caller",
        permissions=["search:use", "accounts:read", "contacts:read"],
        record_scope="all",
    )
    caller = await token_of(client, await make_user(org_a, no_deals["key"]))
    assert {kind for kind, _ in await found(client, caller, "acme")} == {"account", "contact"}


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "a"},
        {"q": "x" * 101},
        {"q": "acme", "types": "invoice"},
        {"q": "acme", "limit": "0"},
        {},
    ],
)
async def test_bad_searches_are_refused(
    client: httpx.AsyncClient, org_a: Org, params: dict[str, str]
) -> None:
    answer = await client.get(SEARCH, params=params, headers=org_a.headers)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "q", ["100%", "a_b", "'; DROP TABLE keel.accounts; --", "a\\b", "!!", "acme | globex", '"acme']
)
async def test_any_text_is_searched_as_text(client: httpx.AsyncClient, org_a: Org, q: str) -> None:
    assert (await client.get(SEARCH, params={"q": q}, headers=org_a.headers)).status_code == 200


# The candidate functions run without the policies (ADR 0018); they must state them themselves.
CANDIDATES = {"account": "search_accounts", "contact": "search_contacts", "deal": "search_deals"}


def candidates(
    runtime: psycopg.Connection, kind: str, q: str, org: Any = None, user: Any = None, scope: str = ""
) -> set[str]:
    runtime.execute(
        "SELECT set_config('app.org_id', %s, false), set_config('app.user_id', %s, false), "
        "set_config('app.scope', %s, false)",
        [str(org or ""), str(user or ""), scope],
    )
    found = runtime.execute(f"SELECT id FROM keel.{CANDIDATES[kind]}(%s, 50)", [q]).fetchall()
    runtime.rollback()
    return {str(row_id) for (row_id,) in found}


@pytest.fixture
async def two_orgs_of_acme(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> dict[str, Any]:
    """In each organisation, an Acme account, contact and deal of a rep, and of a second rep."""
    made_by: dict[str, Any] = {}
    for org in (org_a, org_b):
        for who in ("rep", "other"):
            member = await make_user(org)
            owner = {"owner_id": str(member.id)}
            account = await made(client, org.headers, "/api/v1/accounts", name=f"Acme {who}", **owner)
            contact = await made(
                client, org.headers, "/api/v1/contacts", first_name="Acme", last_name=who, **owner
            )
            deal = await made(
                client, org.headers, "/api/v1/deals", name=f"Acme {who}", account_id=account["id"], **owner
            )
            made_by[f"{org.id}/{who}"] = {
                "person": member,
                "user": member.id,
                "account": account["id"],
                "contact": contact["id"],
                "deal": deal["id"],
            }
    return made_by


@pytest.mark.parametrize("kind", sorted(CANDIDATES))
async def test_candidates_are_only_of_the_transactions_organisation_and_scope(
    runtime: psycopg.Connection, org_a: Org, org_b: Org, two_orgs_of_acme: dict[str, Any], kind: str
) -> None:
    a_rep, a_other = two_orgs_of_acme[f"{org_a.id}/rep"], two_orgs_of_acme[f"{org_a.id}/other"]
    b_rep = two_orgs_of_acme[f"{org_b.id}/rep"]
    # No tenant context: nothing at all, as under the policies.
    assert candidates(runtime, kind, "acme") == set()
    assert candidates(runtime, kind, "acme", user=a_rep["user"], scope="all") == set()
    # Every record of the organisation for an `all` scope, none of the other organisation's.
    everyone = candidates(runtime, kind, "acme", org_a.id, a_rep["user"], "all")
    assert everyone == {a_rep[kind], a_other[kind]}
    assert b_rep[kind] not in everyone
    # A Sales Rep's own only; an unknown or missing scope is the rep's own too, never more.
    for scope in ("own", "", "everything"):
        assert candidates(runtime, kind, "acme", org_a.id, a_rep["user"], scope) == {a_rep[kind]}
    # The rep's user id in another organisation names nothing there.
    assert candidates(runtime, kind, "acme", org_b.id, a_rep["user"], "own") == set()


async def test_a_team_scope_is_the_team_of_this_organisation(
    client: httpx.AsyncClient,
    runtime: psycopg.Connection,
    org_a: Org,
    org_b: Org,
    make_user: MakeUser,
    two_orgs_of_acme: dict[str, Any],
) -> None:
    """A manager's team is the one of the transaction's organisation: a team-mate who also works in
    another organisation brings none of their records there."""
    a_rep, a_other = two_orgs_of_acme[f"{org_a.id}/rep"], two_orgs_of_acme[f"{org_a.id}/other"]
    b_rep = two_orgs_of_acme[f"{org_b.id}/rep"]
    manager = await make_user(org_a, "manager")
    await join(org_b, manager, "manager")
    await join(org_a, b_rep["person"], "sales_rep")
    team = await made(client, org_a.headers, "/api/v1/teams", name="Field")
    for member in (manager.id, a_rep["user"], b_rep["user"]):
        answer = await client.put(f"/api/v1/teams/{team['id']}/members/{member}", headers=org_a.headers)
        assert answer.status_code in (200, 204), answer.text
    for kind in CANDIDATES:
        assert candidates(runtime, kind, "acme", org_a.id, manager.id, "team") == {a_rep[kind]}
        assert a_other[kind] not in candidates(runtime, kind, "acme", org_a.id, manager.id, "team")
        # In the other organisation the manager leads no team: the team-mate's records there stay theirs.
        assert candidates(runtime, kind, "acme", org_b.id, manager.id, "team") == set()


async def test_a_rep_finds_their_record_ranked_below_a_page_of_records_they_may_not_see(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    """The scope is applied before the limit, so what others own never crowds out the caller's own."""
    rep, other = await make_user(org_a), await make_user(org_a)
    for n in range(5):
        await made(client, org_a.headers, "/api/v1/accounts", name=f"Umbrella {n}", owner_id=str(other.id))
    await made(
        client, org_a.headers, "/api/v1/accounts", name="Umbrella Holdings Europe", owner_id=str(rep.id)
    )
    headers = await token_of(client, rep)
    assert await found(client, headers, "umbrella", limit=2) == [("account", "Umbrella Holdings Europe")]
    # The organisation's first two are others' records: the rep's is not among them.
    assert await found(client, org_a.headers, "umbrella", limit=2) == [
        ("account", "Umbrella 0"),
        ("account", "Umbrella 1"),
    ]
