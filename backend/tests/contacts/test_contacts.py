"""Contacts: people with normalised e-mail and phone, linked to accounts the caller can see (one of them
primary), within the caller's record scope, every change audited."""

from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from keel.contacts.repository import contact_by_id, links_of_contact
from keel.contacts.schemas import ContactOut
from keel.contacts.service import contact_out
from keel.core.uow import UnitOfWork
from tests.conftest import Org
from tests.deals.test_deals import token_of
from tests.identity.conftest import MakeUser, authorization_server, bearer, make_user, tokens_for
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here
CONTACTS = "/api/v1/contacts"


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(CONTACTS, json=body, headers={**headers, "Idempotency-Key": str(body)[:200]})


async def account(client: httpx.AsyncClient, org: Org, owner: str, name: str = "Acme") -> str:
    made = await client.post(
        "/api/v1/accounts",
        json={"name": name, "owner_id": owner},
        headers={**org.headers, "Idempotency-Key": f"{name}-{owner}"},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_a_contact_is_normalised_linked_changed_and_deleted(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    acme, globex = (
        await account(client, org_a, str(rep.id)),
        await account(client, org_a, str(rep.id), "Globex"),
    )
    made = await create(
        client,
        org_a.headers,
        first_name="Ada",
        last_name="Lovelace",
        email="  Ada@Example.COM ",
        phone="030 1234567",
        country="DE",
        owner_id=str(rep.id),
        account_ids=[acme, globex],
        primary_account_id=acme,
    )
    assert made.status_code == 201, made.text
    contact = made.json()
    assert contact["email"] == "ada@example.com" and contact["phone"] == "+49301234567"
    assert contact["account_ids"] == sorted([acme, globex]) and contact["primary_account_id"] == acme
    url = f"{CONTACTS}/{contact['id']}"
    by_account = await client.get(CONTACTS, params={"account_id": globex}, headers=org_a.headers)
    assert [c["id"] for c in by_account.json()["items"]] == [contact["id"]]
    by_email = await client.get(CONTACTS, params={"email": "ADA@example.com"}, headers=org_a.headers)
    assert len(by_email.json()["items"]) == 1
    changed = await client.patch(
        url,
        json={"phone": "+44 20 7946 0958", "account_ids": [globex], "primary_account_id": globex},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+442079460958" and changed.json()["account_ids"] == [globex]
    await client.delete(f"/api/v1/accounts/{globex}", headers=org_a.headers)  # its links go with it
    assert (await client.get(url, headers=org_a.headers)).json()["account_ids"] == []
    assert (await client.delete(url, headers=org_a.headers)).status_code == 204
    events = await client.get(
        "/api/v1/audit-events", params={"entity_id": contact["id"]}, headers=org_a.headers
    )
    assert [e["action"] for e in events.json()["items"]] == [
        "contact.deleted",
        "contact.updated",
        "contact.created",
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"last_name": "L", "email": "not-an-address"}, 422),
        ({"last_name": "L", "phone": "12"}, 422),
        ({"last_name": "L", "phone": "030 1234567"}, 422),  # national, and no country to read it by
        ({"last_name": "L", "phone": "call me"}, 422),
        ({"last_name": ""}, 422),
        ({"last_name": "L", "account_ids": ["00000000-0000-0000-0000-000000000001"]}, 422),
        ({"last_name": "L", "primary_account_id": "00000000-0000-0000-0000-000000000001"}, 422),
        ({"last_name": "L", "title": "x" * 101}, 422),
    ],
)
async def test_bad_contacts_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, body: dict[str, Any], status: int
) -> None:
    rep = await make_user(org_a)
    answer = await create(client, org_a.headers, owner_id=str(rep.id), **body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get(CONTACTS, headers=org_a.headers)).json()["items"] == []


async def test_a_sales_rep_links_only_accounts_they_can_see(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as browser:
        token = bearer((await tokens_for(browser, rep))["access_token"])
    theirs = await account(client, org_a, str(other.id))
    elsewhere = await account(client, org_b, str((await make_user(org_b)).id))
    for hidden in (theirs, elsewhere):  # another rep's account, another organisation's
        refused = await create(client, token, last_name="L", account_ids=[hidden])
        assert refused.status_code == 422, refused.text
    mine = await create(client, token, last_name="Mine")
    assert mine.status_code == 201 and mine.json()["owner_id"] == str(rep.id)
    assert (await create(client, token, last_name="Theirs", owner_id=str(other.id))).status_code == 403
    other_contact = (await create(client, org_a.headers, last_name="O", owner_id=str(other.id))).json()
    assert (await client.get(f"{CONTACTS}/{other_contact['id']}", headers=token)).status_code == 404
    assert [c["id"] for c in (await client.get(CONTACTS, headers=token)).json()["items"]] == [
        mine.json()["id"]
    ]
    refused = await client.delete(f"/api/v1/members/{other.id}", headers=org_a.headers)
    assert refused.status_code == 409  # they still hold an account and a contact


async def test_links_cannot_reach_another_organisations_rows_even_in_plain_sql(
    client: httpx.AsyncClient,
    org_a: Org,
    org_b: Org,
    make_user: MakeUser,
    admin: psycopg.Connection,
    runtime: psycopg.Connection,
) -> None:
    # A foreign key ignores row-level security: links carry their organisation in the key as well.
    rep, stranger = await make_user(org_a), await make_user(org_b)
    contact = (await create(client, org_a.headers, last_name="L", owner_id=str(rep.id))).json()["id"]
    foreign_account = await account(client, org_b, str(stranger.id))
    (foreign_pipeline,) = admin.execute(
        "SELECT id FROM keel.pipelines WHERE org_id = %s", [org_b.id]
    ).fetchone()
    team = admin.execute(
        "INSERT INTO keel.teams (org_id, name) VALUES (%s, 'B team') RETURNING id", [org_b.id]
    ).fetchone()
    assert team is not None
    for statement, values in (
        (
            "INSERT INTO keel.contact_accounts (org_id, contact_id, account_id) VALUES (%s, %s, %s)",
            [contact, foreign_account],
        ),
        (
            "INSERT INTO keel.stages (org_id, pipeline_id, name, position, probability) "
            "VALUES (%s, %s, 'X', 9, 1)",
            [foreign_pipeline],
        ),
        ("INSERT INTO keel.team_members (org_id, team_id, user_id) VALUES (%s, %s, %s)", [team[0], rep.id]),
    ):
        runtime.execute(
            "SELECT set_config('app.org_id', %s, true), set_config('app.scope', 'all', true)", [str(org_a.id)]
        )
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            runtime.execute(statement, [org_a.id, *values])
        runtime.rollback()


async def test_the_export_shows_the_lists_contacts_with_their_primary_account_formula_safe(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    acme = await account(client, org_a, str(rep.id))
    ada = await create(
        client,
        org_a.headers,
        first_name="=CMD()",
        last_name="Lovelace",
        owner_id=str(rep.id),
        account_ids=[acme],
        primary_account_id=acme,
        tags=["vip"],
    )
    await create(client, org_a.headers, last_name="Babbage", owner_id=str(rep.id))
    await create(client, org_a.headers, last_name="Hopper", owner_id=str(other.id), tags=["vip"])

    mine = await client.get(
        f"{CONTACTS}/export", params={"sort": "last_name"}, headers=await token_of(client, rep)
    )
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(mine.text)))
    assert [r["last_name"] for r in rows] == ["Babbage", "Lovelace"]  # not another rep's Hopper
    lovelace = rows[1]
    assert lovelace["id"] == ada.json()["id"] and lovelace["first_name"] == "'=CMD()"
    assert lovelace["primary_account_id"] == acme and rows[0]["primary_account_id"] == ""
    tagged = await client.get(f"{CONTACTS}/export", params={"tag": "vip"}, headers=org_a.headers)
    assert sorted(r["last_name"] for r in csv.DictReader(io.StringIO(tagged.text))) == ["Hopper", "Lovelace"]
    trail = await client.get(
        "/api/v1/audit-events", params={"action": "crm_export.contacts"}, headers=org_a.headers
    )
    assert [e["after"]["filter"]["tag"] for e in trail.json()["items"]] == ["vip", None]


async def test_the_list_and_the_record_written_by_postgresql_are_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    acme, globex = (
        await account(client, org_a, str(rep.id)),
        await account(client, org_a, str(rep.id), "Globex"),
    )
    shapes: list[dict[str, Any]] = [
        {"last_name": "Alone", "owner_id": str(rep.id)},  # no account, no e-mail, no tags
        {"last_name": "Linked", "owner_id": str(rep.id), "account_ids": [acme], "primary_account_id": acme},
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "CTO",
            "email": "ada@example.com",
            "phone": "+49 30 1234567",
            "owner_id": str(rep.id),
            "assignee_id": str(rep.id),
            "tags": ["vip", "decision-maker"],
            "external_id": "HS-1",
            "account_ids": [globex, acme],
            "primary_account_id": globex,
        },
    ]
    for body in shapes:
        made = await create(client, org_a.headers, **body)
        assert made.status_code == 201, made.text
    listed = (await client.get(CONTACTS, params={"limit": 2}, headers=org_a.headers)).json()
    rest = await client.get(
        CONTACTS, params={"limit": 2, "cursor": listed["next_cursor"]}, headers=org_a.headers
    )
    assert rest.json()["next_cursor"] is None
    items = listed["items"] + rest.json()["items"]
    assert len(items) == 3
    records = []
    for item in items:
        one = await client.get(f"{CONTACTS}/{item['id']}", headers=org_a.headers)
        assert one.status_code == 200 and one.headers["etag"] == f'"{item["version"]}"'
        assert one.json() == item
        records.append(one.json())

    async def model_of(uow: UnitOfWork, contact_id: UUID) -> ContactOut:
        contact = await contact_by_id(uow.session, contact_id)
        assert contact is not None
        return contact_out(contact, await links_of_contact(uow.session, contact_id))

    await assert_sent_as_the_model(org_a.id, items + records, model_of)
