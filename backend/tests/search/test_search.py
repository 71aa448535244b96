"""Search: one box across accounts, contacts and deals, full text plus trigram (misspellings, partial
e-mails), ranked; within the caller's scope and the record types their role reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Org
from tests.deals.test_deals import made, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user

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
