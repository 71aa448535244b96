"""Merging duplicates: everything on the duplicate moves to the survivor (also what the caller cannot
see), the survivor's values stand and fill their gaps from the duplicate, the duplicate goes, audited."""

from __future__ import annotations

from uuid import UUID

import httpx
import psycopg
import pytest

from keel.accounts.repository import account_by_id
from keel.accounts.schemas import AccountOut
from keel.core.uow import UnitOfWork
from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here


def merge(client: httpx.AsyncClient, headers: dict[str, str], kind: str, survivor: str, duplicate: str):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/{kind}/{survivor}/merge", json={"duplicate_id": duplicate}, headers=headers)


async def test_two_accounts_become_one_with_everything_that_was_on_either(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    h, mine = org_a.headers, {"owner_id": str(rep.id)}
    keep = await made(client, h, "/api/v1/accounts", name="Acme", tags=["a"], **mine)
    dup = await made(
        client, h, "/api/v1/accounts", name="ACME Inc", domain="acme.example", country="DE", tags=["b"],
        lifecycle_stage="customer", **mine,
    )  # fmt: skip
    both = await made(client, h, "/api/v1/contacts", last_name="Both", account_ids=[keep["id"], dup["id"]],
                      primary_account_id=dup["id"], **mine)  # fmt: skip
    only_dup = await made(client, h, "/api/v1/contacts", last_name="Dup", account_ids=[dup["id"]], **mine)
    hidden_deal = await made(
        client, h, "/api/v1/deals", name="Theirs", account_id=dup["id"], owner_id=str(other.id)
    )
    ticket = await made(client, h, "/api/v1/tickets", subject="Help", account_id=dup["id"], **mine)
    note = await made(client, h, "/api/v1/activities", kind="note", account_id=dup["id"], **mine)

    token = await token_of(client, rep)  # a rep who cannot see the other rep's deal on the duplicate
    merged = await merge(client, token, "accounts", keep["id"], dup["id"])
    assert merged.status_code == 200, merged.text
    account = merged.json()
    assert (account["name"], account["domain"], account["country"]) == ("Acme", "acme.example", "DE")
    assert (account["tags"], account["lifecycle_stage"]) == (["a", "b"], "customer")
    assert (await client.get(f"/api/v1/accounts/{dup['id']}", headers=h)).status_code == 404
    assert (await client.get(f"/api/v1/deals/{hidden_deal['id']}", headers=h)).json()["account_id"] == keep[
        "id"
    ]
    assert (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=h)).json()["account_id"] == keep["id"]
    assert (await client.get(f"/api/v1/activities/{note['id']}", headers=h)).json()["account_id"] == keep[
        "id"
    ]
    linked = (await client.get(f"/api/v1/contacts/{both['id']}", headers=h)).json()
    assert (linked["account_ids"], linked["primary_account_id"]) == ([keep["id"]], keep["id"])
    assert (await client.get(f"/api/v1/contacts/{only_dup['id']}", headers=h)).json()["account_ids"] == [
        keep["id"]
    ]
    trail = await client.get("/api/v1/audit-events", params={"entity_id": keep["id"]}, headers=h)
    event = trail.json()["items"][0]
    assert event["action"] == "account.merged" and event["before"]["duplicate"]["name"] == "ACME Inc"
    assert event["after"]["moved"] == {"contacts": 1, "deals": 1, "tickets": 1, "activities": 1, "leads": 0}


async def test_the_merged_account_is_sent_as_the_model_would_send_it_and_as_it_is_read_after(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    h, mine = org_a.headers, {"owner_id": str(rep.id)}
    for key, kind in (("tier", "text"), ("seats", "number"), ("partner", "boolean")):
        await made(client, h, "/api/v1/custom-fields", record_type="account", key=key, label=key, type=kind)
    keep = await made(client, h, "/api/v1/accounts", name="Acme", tags=["b"], custom={"tier": "gold"}, **mine)
    dup = await made(
        client, h, "/api/v1/accounts", name="ACME Inc", industry="Tools", tags=["a", "b"],
        custom={"seats": 12.5, "partner": True, "tier": "silver"}, **mine,
    )  # fmt: skip
    merged = await merge(client, h, "accounts", keep["id"], dup["id"])
    assert merged.status_code == 200, merged.text
    account = merged.json()
    assert merged.headers["etag"] == f'"{account["version"]}"' == '"2"'
    assert (account["industry"], account["tags"]) == ("Tools", ["a", "b"])
    assert account["custom"] == {"tier": "gold", "seats": 12.5, "partner": True}
    after = await client.get(f"/api/v1/accounts/{keep['id']}", headers=h)
    assert after.json() == account and after.headers["etag"] == merged.headers["etag"]

    async def model_of(uow: UnitOfWork, account_id: UUID) -> AccountOut:
        found = await account_by_id(uow.session, account_id)
        assert found is not None
        return AccountOut.model_validate(found)

    await assert_sent_as_the_model(org_a.id, [account], model_of)


async def test_two_contacts_become_one(client: httpx.AsyncClient, org_a: Org, make_user: MakeUser) -> None:
    rep = await make_user(org_a)
    h, mine = org_a.headers, {"owner_id": str(rep.id)}
    acme = await made(client, h, "/api/v1/accounts", name="Acme", **mine)
    globex = await made(client, h, "/api/v1/accounts", name="Globex", **mine)
    keep = await made(client, h, "/api/v1/contacts", last_name="Lovelace", account_ids=[acme["id"]],
                      primary_account_id=acme["id"], **mine)  # fmt: skip
    dup = await made(client, h, "/api/v1/contacts", last_name="Lovelace", email="ada@acme.example",
                     account_ids=[globex["id"]], primary_account_id=globex["id"], **mine)  # fmt: skip
    deal = await made(
        client, h, "/api/v1/deals", name="D", account_id=globex["id"], primary_contact_id=dup["id"], **mine
    )
    merged = await merge(client, h, "contacts", keep["id"], dup["id"])
    assert merged.status_code == 200, merged.text
    contact = merged.json()
    assert contact["email"] == "ada@acme.example"
    assert (sorted(contact["account_ids"]), contact["primary_account_id"]) == (
        sorted([acme["id"], globex["id"]]),
        acme["id"],
    )
    assert (await client.get(f"/api/v1/deals/{deal['id']}", headers=h)).json()["primary_contact_id"] == keep[
        "id"
    ]
    assert (await client.get(f"/api/v1/contacts/{dup['id']}", headers=h)).status_code == 404


async def test_a_merge_needs_both_records_within_reach(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    rep, other, stranger = await make_user(org_a), await make_user(org_a), await make_user(org_b)
    mine = await made(client, org_a.headers, "/api/v1/accounts", name="Mine", owner_id=str(rep.id))
    theirs = await made(client, org_a.headers, "/api/v1/accounts", name="Theirs", owner_id=str(other.id))
    foreign = await made(client, org_b.headers, "/api/v1/accounts", name="B", owner_id=str(stranger.id))
    token = await token_of(client, rep)
    assert (await merge(client, token, "accounts", mine["id"], theirs["id"])).status_code == 422
    assert (await merge(client, org_a.headers, "accounts", mine["id"], foreign["id"])).status_code == 422
    assert (await merge(client, org_a.headers, "accounts", mine["id"], mine["id"])).status_code == 422
    assert (await merge(client, token, "accounts", theirs["id"], mine["id"])).status_code == 404
    bad = await post(client, org_a.headers, f"/api/v1/accounts/{mine['id']}/merge", duplicate_id="nope")
    assert bad.status_code == 422
    for record in (mine, theirs):
        assert (
            await client.get(f"/api/v1/accounts/{record['id']}", headers=org_a.headers)
        ).status_code == 200
    assert (await client.get(f"/api/v1/accounts/{foreign['id']}", headers=org_b.headers)).status_code == 200


@pytest.mark.parametrize("kind", ["accounts", "contacts"])
@pytest.mark.parametrize("survivor_first", [True, False])
async def test_the_duplicates_external_id_moves_to_the_survivor_whichever_id_is_lower(
    client: httpx.AsyncClient,
    org_a: Org,
    make_user: MakeUser,
    admin: psycopg.Connection,
    kind: str,
    survivor_first: bool,
) -> None:
    """The survivor takes the duplicate's external id; the id order of the two rows does not matter."""
    h, owner = org_a.headers, str((await make_user(org_a)).id)
    name = {"accounts": "name", "contacts": "last_name"}[kind]
    made_two = [
        await made(client, h, f"/api/v1/{kind}", owner_id=owner, **{name: f"Acme {n}"}) for n in (1, 2)
    ]
    low, high = sorted((record["id"] for record in made_two), key=UUID)
    survivor, duplicate = (low, high) if survivor_first else (high, low)
    admin.execute(f"UPDATE keel.{kind} SET external_id = 'crm-42' WHERE id = %s", [duplicate])
    merged = await merge(client, h, kind, survivor, duplicate)
    assert merged.status_code == 200, merged.text
    assert merged.json()["external_id"] == "crm-42"
    assert (await client.get(f"/api/v1/{kind}/{survivor}", headers=h)).json()["external_id"] == "crm-42"
