"""Custom fields: per-organisation typed definitions; values checked on every write, filterable with
`cf.<key>=<value>`; removing a field clears its values everywhere, an option in use stays."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here
FIELDS = "/api/v1/custom-fields"
ACCOUNTS = "/api/v1/accounts"


async def define(client: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    return await made(client, org.headers, FIELDS, **body)


async def names(client: httpx.AsyncClient, headers: dict[str, str], url: str, **params: str) -> list[str]:
    page = await client.get(url, params=params, headers=headers)
    assert page.status_code == 200, page.text
    return sorted(r.get("name") or r.get("last_name") or r.get("company") for r in page.json()["items"])


async def test_typed_values_are_kept_changed_removed_and_filtered(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    await define(
        client,
        org_a,
        record_type="account",
        key="tier",
        label="Tier",
        type="select",
        options=["gold", "silver"],
    )
    await define(client, org_a, record_type="account", key="seats", label="Seats", type="number")
    await define(client, org_a, record_type="account", key="renewal", label="Renewal", type="date")
    await define(client, org_a, record_type="account", key="partner", label="Partner", type="boolean")
    await define(client, org_a, record_type="account", key="notes", label="Notes", type="text")
    gold = await made(
        client,
        org_a.headers,
        ACCOUNTS,
        name="Gold",
        owner_id=str(rep.id),
        custom={"tier": "gold", "seats": 250, "renewal": "2027-03-31", "partner": True},
    )
    assert gold["custom"] == {"tier": "gold", "seats": 250, "renewal": "2027-03-31", "partner": True}
    await made(
        client,
        org_a.headers,
        ACCOUNTS,
        name="Silver",
        owner_id=str(rep.id),
        custom={"tier": "silver", "seats": 12.5},
    )
    await made(client, org_a.headers, ACCOUNTS, name="Plain", owner_id=str(rep.id))

    assert await names(client, org_a.headers, ACCOUNTS, **{"cf.tier": "gold"}) == ["Gold"]
    assert await names(client, org_a.headers, ACCOUNTS, **{"cf.seats": "250"}) == ["Gold"]
    assert await names(client, org_a.headers, ACCOUNTS, **{"cf.seats": "12.5"}) == ["Silver"]
    assert await names(client, org_a.headers, ACCOUNTS, **{"cf.partner": "true"}) == ["Gold"]
    assert await names(
        client, org_a.headers, ACCOUNTS, **{"cf.renewal": "2027-03-31", "cf.tier": "gold"}
    ) == ["Gold"]
    assert (
        await names(client, org_a.headers, ACCOUNTS, **{"cf.tier": "gold", "lifecycle_stage": "customer"})
        == []
    )
    for bad in ({"cf.tier": "bronze"}, {"cf.seats": "many"}, {"cf.unknown": "x"}, {"cf.partner": "yes"}):
        answer = await client.get(ACCOUNTS, params=bad, headers=org_a.headers)
        assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json", bad

    changed = await client.patch(
        f"{ACCOUNTS}/{gold['id']}",
        json={"custom": {"seats": 300, "partner": None, "notes": "Signed by the CFO"}},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["custom"] == {
        "tier": "gold",
        "seats": 300,
        "renewal": "2027-03-31",
        "notes": "Signed by the CFO",
    }
    trail = await client.get("/api/v1/audit-events", params={"entity_id": gold["id"]}, headers=org_a.headers)
    assert trail.json()["items"][0]["after"]["custom"]["seats"] == 300


@pytest.mark.parametrize(
    ("custom", "detail"),
    [
        ({"tier": "bronze"}, "one of"),
        ({"seats": "many"}, "a number"),
        ({"seats": True}, "a number"),
        ({"seats": 1e16}, "a number"),
        ({"renewal": "31/03/2027"}, "a date"),
        ({"partner": "yes"}, "true or false"),
        ({"notes": "x" * 1001}, "at most 1000"),
        ({"unknown": 1}, "not a field"),
    ],
)
async def test_values_that_do_not_fit_their_field_are_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, custom: dict[str, Any], detail: str
) -> None:
    rep = await make_user(org_a)
    for key, kind, options in (
        ("tier", "select", ["gold"]),
        ("seats", "number", []),
        ("renewal", "date", []),
        ("partner", "boolean", []),
        ("notes", "text", []),
    ):
        await define(client, org_a, record_type="account", key=key, label=key, type=kind, options=options)
    answer = await post(client, org_a.headers, ACCOUNTS, name="A", owner_id=str(rep.id), custom=custom)
    assert answer.status_code == 422 and detail in answer.json()["detail"], answer.text
    assert (await client.get(ACCOUNTS, headers=org_a.headers)).json()["items"] == []


async def test_each_record_type_has_its_own_fields(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    await define(client, org_a, record_type="contact", key="linkedin", label="LinkedIn", type="text")
    await define(client, org_a, record_type="deal", key="competitor", label="Competitor", type="text")
    await define(client, org_a, record_type="lead", key="score", label="Score", type="number")
    owner = {"owner_id": str(rep.id)}
    account = await made(client, org_a.headers, ACCOUNTS, name="Acme", **owner)
    assert (
        await post(client, org_a.headers, ACCOUNTS, name="B", custom={"linkedin": "x"}, **owner)
    ).status_code == 422
    contact = await made(
        client, org_a.headers, "/api/v1/contacts", last_name="Ada", custom={"linkedin": "ada"}, **owner
    )
    deal = await made(
        client,
        org_a.headers,
        "/api/v1/deals",
        name="D",
        account_id=account["id"],
        custom={"competitor": "Initech"},
        **owner,
    )
    lead = await made(client, org_a.headers, "/api/v1/leads", company="L", custom={"score": 87}, **owner)
    assert (contact["custom"], deal["custom"], lead["custom"]) == (
        {"linkedin": "ada"},
        {"competitor": "Initech"},
        {"score": 87},
    )
    assert await names(client, org_a.headers, "/api/v1/contacts", **{"cf.linkedin": "ada"}) == ["Ada"]
    assert await names(client, org_a.headers, "/api/v1/deals", **{"cf.competitor": "Initech"}) == ["D"]
    assert await names(client, org_a.headers, "/api/v1/leads", **{"cf.score": "87"}) == ["L"]


async def test_removing_a_field_clears_it_everywhere_and_an_option_in_use_stays(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    tier = await define(
        client, org_a, record_type="account", key="tier", label="Tier", type="select", options=["a", "b", "c"]
    )
    url = f"{FIELDS}/{tier['id']}"
    for person, value in ((rep, "a"), (other, "b")):
        await made(
            client, org_a.headers, ACCOUNTS, name=value, owner_id=str(person.id), custom={"tier": value}
        )
    # The manager sees neither account, yet the options they hold stay.
    manager = await token_of(client, await make_user(org_a, "org_admin"))
    in_use = await client.patch(url, json={"options": ["a", "c"]}, headers={**manager, "If-Match": '"1"'})
    assert in_use.status_code == 409 and "'b'" in in_use.json()["detail"]
    renamed = await client.patch(
        url, json={"label": "Level", "options": ["a", "b"]}, headers={**org_a.headers, "If-Match": '"1"'}
    )
    assert renamed.status_code == 200 and renamed.json()["options"] == ["a", "b"]
    assert (await client.delete(url, headers=org_a.headers)).status_code == 204
    held = admin.execute(
        "SELECT count(*) FROM keel.accounts WHERE org_id = %s AND custom ? 'tier'", [org_a.id]
    )
    assert held.fetchone() == (0,)
    again = await post(client, org_a.headers, ACCOUNTS, name="c", owner_id=str(rep.id), custom={"tier": "a"})
    assert again.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"record_type": "account", "key": "Tier", "label": "T", "type": "text"},
        {"record_type": "account", "key": "1tier", "label": "T", "type": "text"},
        {"record_type": "account", "key": "tier", "label": "T", "type": "select"},  # no options
        {"record_type": "account", "key": "tier", "label": "T", "type": "text", "options": ["a"]},
        {"record_type": "account", "key": "tier", "label": "T", "type": "select", "options": ["a", "a"]},
        {"record_type": "account", "key": "tier", "label": "T", "type": "money"},
        {"record_type": "ticket", "key": "tier", "label": "T", "type": "text"},
        {"record_type": "account", "key": "tier", "label": "", "type": "text"},
    ],
)
async def test_bad_definitions_are_refused(
    client: httpx.AsyncClient, org_a: Org, body: dict[str, Any]
) -> None:
    answer = await post(client, org_a.headers, FIELDS, **body)
    assert answer.status_code == 422, answer.text
    assert (await client.get(FIELDS, headers=org_a.headers)).json() == []


async def test_fields_are_the_organisations_own(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    theirs = await define(client, org_b, record_type="account", key="tier", label="Tier", type="text")
    assert (await client.get(FIELDS, headers=org_a.headers)).json() == []
    assert (await client.delete(f"{FIELDS}/{theirs['id']}", headers=org_a.headers)).status_code == 404
    rep = await make_user(org_a)
    refused = await post(
        client, org_a.headers, ACCOUNTS, name="A", owner_id=str(rep.id), custom={"tier": "x"}
    )
    assert refused.status_code == 422
    duplicate = await post(
        client, org_b.headers, FIELDS, record_type="account", key="tier", label="Again", type="text"
    )
    assert duplicate.status_code == 409
    rep_token = await token_of(client, rep)
    assert (await client.get(FIELDS, headers=rep_token)).status_code == 200
    assert (
        await post(client, rep_token, FIELDS, record_type="lead", key="k", label="K", type="text")
    ).status_code == 403
