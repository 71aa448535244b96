"""Leads: interest owned like accounts; disqualified with a reason; converted once, in one transaction,
into an account (or an existing one), a contact and a deal, which the lead links to."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from keel.core.uow import UnitOfWork
from keel.leads.repository import lead_by_id
from keel.leads.schemas import LeadOut
from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here
LEADS = "/api/v1/leads"
NOBODY = "00000000-0000-0000-0000-000000000001"


async def patch(
    client: httpx.AsyncClient, headers: dict[str, str], lead: dict[str, Any], **change: Any
) -> httpx.Response:
    current = await client.get(f"{LEADS}/{lead['id']}", headers=headers)
    return await client.patch(
        f"{LEADS}/{lead['id']}", json=change, headers={**headers, "If-Match": current.headers["etag"]}
    )


def count(admin: psycopg.Connection, table: str, org: Org) -> int:
    row = admin.execute(f"SELECT count(*) FROM keel.{table} WHERE org_id = %s", [org.id]).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_lead_is_worked_disqualified_requalified_and_converted_into_three_linked_records(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    lead = await made(
        client,
        org_a.headers,
        LEADS,
        first_name="Grace",
        last_name="Hopper",
        company="Initech",
        email="Grace@Initech.example",
        phone="+1 415 555 2671",
        country="US",
        source="webinar",
        tags=["q1"],
        owner_id=str(rep.id),
    )
    assert (lead["status"], lead["email"], lead["phone"]) == ("new", "grace@initech.example", "+14155552671")
    no_reason = await patch(client, org_a.headers, lead, status="disqualified")
    assert no_reason.status_code == 422
    out = await patch(client, org_a.headers, lead, status="disqualified", disqualified_reason="No budget")
    assert out.json()["status"] == "disqualified"
    refused = await client.post(f"{LEADS}/{lead['id']}/conversion", headers=org_a.headers)
    assert refused.status_code == 409
    back = (await patch(client, org_a.headers, lead, status="qualified")).json()
    assert back["status"] == "qualified" and back["disqualified_reason"] is None

    converted = await client.post(
        f"{LEADS}/{lead['id']}/conversion", json={"deal": {"amount_minor": 500_00}}, headers=org_a.headers
    )
    assert converted.status_code == 201, converted.text
    result = converted.json()
    assert result["lead"]["status"] == "converted" and result["lead"]["converted_at"] is not None
    assert (result["lead"]["account_id"], result["lead"]["deal_id"]) == (
        result["account_id"],
        result["deal_id"],
    )
    account = (await client.get(f"/api/v1/accounts/{result['account_id']}", headers=org_a.headers)).json()
    contact = (await client.get(f"/api/v1/contacts/{result['contact_id']}", headers=org_a.headers)).json()
    deal = (await client.get(f"/api/v1/deals/{result['deal_id']}", headers=org_a.headers)).json()
    assert (account["name"], account["country"], account["owner_id"]) == ("Initech", "US", str(rep.id))
    assert (contact["last_name"], contact["email"], contact["phone"]) == (
        "Hopper",
        "grace@initech.example",
        "+14155552671",
    )
    assert contact["primary_account_id"] == account["id"] and contact["owner_id"] == str(rep.id)
    assert (deal["name"], deal["amount_minor"], deal["source"], deal["primary_contact_id"]) == (
        "Initech",
        500_00,
        "webinar",
        contact["id"],
    )
    assert deal["tags"] == ["q1"] == account["tags"]
    trail = await client.get("/api/v1/audit-events", params={"entity_id": lead["id"]}, headers=org_a.headers)
    assert [e["action"] for e in trail.json()["items"]] == [
        "lead.converted",
        *["lead.updated"] * 2,
        "lead.created",
    ]
    # Final: it is not changed again, and converting it again changes nothing.
    assert (await patch(client, org_a.headers, lead, company="Other")).status_code == 409
    again = await client.post(f"{LEADS}/{lead['id']}/conversion", headers=org_a.headers)
    assert again.status_code == 200 and again.json() == result


async def test_converting_twice_at_once_makes_one_set_of_records(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    rep = await make_user(org_a)
    lead = await made(client, org_a.headers, LEADS, last_name="Twice", company="Echo", owner_id=str(rep.id))
    answers = await asyncio.gather(
        *(client.post(f"{LEADS}/{lead['id']}/conversion", headers=org_a.headers) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["deal_id"] for a in answers}) == 1
    assert (
        count(admin, "accounts", org_a),
        count(admin, "contacts", org_a),
        count(admin, "deals", org_a),
    ) == (
        1,
        1,
        1,
    )


async def test_a_lead_can_join_an_existing_account_and_open_no_deal(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    rep = await make_user(org_a)
    acme = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    lead = await made(client, org_a.headers, LEADS, last_name="Lovelace", owner_id=str(rep.id))
    converted = await client.post(
        f"{LEADS}/{lead['id']}/conversion",
        json={"account_id": acme["id"], "deal": None},
        headers=org_a.headers,
    )
    assert converted.status_code == 201, converted.text
    assert converted.json()["account_id"] == acme["id"] and converted.json()["deal_id"] is None
    assert count(admin, "accounts", org_a) == 1 and count(admin, "deals", org_a) == 0
    contact = (
        await client.get(f"/api/v1/contacts/{converted.json()['contact_id']}", headers=org_a.headers)
    ).json()
    assert contact["account_ids"] == [acme["id"]]


@pytest.mark.parametrize(
    ("conversion", "lead_body", "status"),
    [
        ({"deal": {"currency": "XYZ"}}, {"last_name": "L", "company": "C"}, 422),
        ({"deal": {"stage_id": NOBODY}}, {"last_name": "L", "company": "C"}, 422),
        ({"account_id": NOBODY}, {"last_name": "L", "company": "C"}, 422),
        ({"deal": {"amount_minor": -5}}, {"last_name": "L", "company": "C"}, 422),
        ({}, {"company": "No person here"}, 422),  # a contact needs a last name
    ],
)
async def test_a_conversion_that_fails_at_any_step_writes_nothing(
    client: httpx.AsyncClient,
    org_a: Org,
    make_user: MakeUser,
    admin: psycopg.Connection,
    conversion: dict[str, Any],
    lead_body: dict[str, Any],
    status: int,
) -> None:
    rep = await make_user(org_a)
    lead = await made(client, org_a.headers, LEADS, owner_id=str(rep.id), **lead_body)
    answer = await client.post(f"{LEADS}/{lead['id']}/conversion", json=conversion, headers=org_a.headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [count(admin, t, org_a) for t in ("accounts", "contacts", "deals")] == [0, 0, 0]
    assert (await client.get(f"{LEADS}/{lead['id']}", headers=org_a.headers)).json()["status"] == "new"


@pytest.mark.parametrize(
    "body",
    [
        {},  # nobody: no name, company or e-mail
        {"first_name": "Only"},
        {"email": "not-an-address"},
        {"company": "C", "phone": "call me"},
        {"company": "C", "status": "converted"},
        {"company": "C", "status": "disqualified"},
        {"company": "x" * 201},
        {"company": "C", "owner_id": NOBODY},
        {"company": "C", "country": "Germany"},
    ],
)
async def test_bad_leads_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, body: dict[str, Any]
) -> None:
    rep = await make_user(org_a)
    answer = await post(client, org_a.headers, LEADS, **{"owner_id": str(rep.id), **body})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get(LEADS, headers=org_a.headers)).json()["items"] == []


async def test_leads_are_listed_by_status_source_tag_and_email(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    await made(
        client, org_a.headers, LEADS, company="A", source="webinar", tags=["hot"], owner_id=str(rep.id)
    )
    b = await made(client, org_a.headers, LEADS, email="b@example.com", owner_id=str(rep.id))
    await patch(client, org_a.headers, b, status="working")

    async def companies(**params: str) -> list[str | None]:
        page = await client.get(LEADS, params=params, headers=org_a.headers)
        assert page.status_code == 200, page.text
        return [lead["company"] or lead["email"] for lead in page.json()["items"]]

    assert await companies() == ["b@example.com", "A"]
    assert await companies(status="working") == ["b@example.com"]
    assert await companies(source="webinar") == ["A"] == await companies(tag="hot")
    assert await companies(email="B@example.com") == ["b@example.com"]
    assert (await client.get(LEADS, params={"status": "lost"}, headers=org_a.headers)).status_code == 422


async def test_a_sales_rep_converts_their_own_leads_only_and_support_converts_none(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    token = await token_of(client, rep)
    theirs = await made(client, org_a.headers, LEADS, last_name="T", company="T", owner_id=str(other.id))
    mine = await made(client, token, LEADS, last_name="M", company="M")
    assert mine["owner_id"] == str(rep.id)
    assert (await client.get(f"{LEADS}/{theirs['id']}", headers=token)).status_code == 404
    assert (await client.post(f"{LEADS}/{theirs['id']}/conversion", headers=token)).status_code == 404
    assert [lead["id"] for lead in (await client.get(LEADS, headers=token)).json()["items"]] == [mine["id"]]
    converted = await client.post(f"{LEADS}/{mine['id']}/conversion", headers=token)
    assert converted.status_code == 201, converted.text
    assert (
        await client.get(f"/api/v1/deals/{converted.json()['deal_id']}", headers=token)
    ).status_code == 200
    support = await token_of(client, await make_user(org_a, "support"))
    assert (await client.get(LEADS, headers=support)).status_code == 403
    assert (await client.post(f"{LEADS}/{theirs['id']}/conversion", headers=support)).status_code == 403
    elsewhere = await made(
        client, org_b.headers, LEADS, last_name="B", owner_id=str((await make_user(org_b)).id)
    )
    assert (
        await client.post(f"{LEADS}/{elsewhere['id']}/conversion", headers=org_a.headers)
    ).status_code == 404
    assert (await client.get(f"{LEADS}/{elsewhere['id']}", headers=org_b.headers)).json()["status"] == "new"


async def test_the_export_shows_the_lists_leads_to_those_who_read_leads(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    mine = await made(
        client, org_a.headers, LEADS, company="@SUM(1+1)", source="webinar", owner_id=str(rep.id)
    )
    await made(client, org_a.headers, LEADS, company="Initech", source="webinar", owner_id=str(other.id))
    await made(client, org_a.headers, LEADS, company="Globex", source="fair", owner_id=str(rep.id))

    exported = await client.get(
        f"{LEADS}/export", params={"source": "webinar"}, headers=await token_of(client, rep)
    )
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["id"], r["company"], r["status"]) for r in rows] == [(mine["id"], "'@SUM(1+1)", "new")]
    support = await token_of(client, await make_user(org_a, "support"))
    refused = await client.get(f"{LEADS}/export", headers=support)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    trail = await client.get(
        "/api/v1/audit-events", params={"action": "crm_export.leads"}, headers=org_a.headers
    )
    assert [e["after"]["filter"]["source"] for e in trail.json()["items"]] == ["webinar"]


async def test_the_list_and_the_record_written_by_postgresql_are_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    rep_token = await token_of(client, rep)
    for key, kind in (("seats", "number"), ("renewal", "date"), ("partner", "boolean"), ("notes", "text")):
        await made(
            client, org_a.headers, "/api/v1/custom-fields", record_type="lead", key=key, label=key, type=kind
        )
    rule = await made(
        client,
        org_a.headers,
        "/api/v1/assignment-rules",
        name="Inbound",
        record_type="lead",
        owner_id=str(rep.id),
    )
    await made(client, org_a.headers, LEADS, last_name="Bare", owner_id=str(rep.id))
    full = await made(
        client, org_a.headers, LEADS, first_name="Grace", last_name="Hopper", company="Initech", title="CTO",
        email="grace@initech.example", phone="+1 415 555 2671", country="US", source="webinar",
        tags=["q1", "vip"], external_id="HS-7", owner_id=str(rep.id), assignee_id=str(rep.id),
    )  # fmt: skip
    assert (await patch(client, org_a.headers, full, status="qualified")).status_code == 200
    converted = await client.post(f"{LEADS}/{full['id']}/conversion", json={}, headers=rep_token)
    assert converted.status_code == 201, converted.text
    assert converted.json()["lead"]["converted_by"] == str(rep.id)  # converted_at and the links set too
    unusual = {  # text JSON must escape, and text it must not; custom values of each type
        "company": 'Ünïcorn "Labs" \\ ☃', "title": "Head of 𝄞",
        "custom": {"seats": 12.5, "renewal": "2027-03-31", "partner": True, "notes": 'a "quoted" \\ note'},
    }  # fmt: skip
    answer = await client.post(LEADS, json=unusual, headers={**org_a.headers, "Idempotency-Key": "unusual"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["assignment_rule_id"] == rule["id"]  # no owner named: the rule chose one
    assert {f: answer.json()[f] for f in unusual} == unusual
    dropped = await made(
        client, org_a.headers, LEADS, company="Dropped", owner_id=str(rep.id), custom={"seats": 3}
    )
    no_budget = await patch(
        client, org_a.headers, dropped, status="disqualified", disqualified_reason="No budget"
    )
    assert no_budget.status_code == 200
    listed = (await client.get(LEADS, params={"limit": 3}, headers=org_a.headers)).json()
    rest = await client.get(
        LEADS, params={"limit": 3, "cursor": listed["next_cursor"]}, headers=org_a.headers
    )
    assert rest.json()["next_cursor"] is None
    items = listed["items"] + rest.json()["items"]
    assert [i["status"] for i in items] == ["disqualified", "new", "converted", "new"]
    records = []
    for item in items:
        one = await client.get(f"{LEADS}/{item['id']}", headers=org_a.headers)
        assert one.status_code == 200 and one.headers["etag"] == f'"{item["version"]}"'
        assert one.json() == item
        records.append(one.json())
    for written in (converted.json()["lead"], no_budget.json()):  # as the changes answered (the ORM's)
        read_after = next(r for r in records if r["id"] == written["id"])
        assert LeadOut.model_validate(read_after) == LeadOut.model_validate(written)

    async def model_of(uow: UnitOfWork, lead_id: UUID) -> LeadOut:
        lead = await lead_by_id(uow.session, lead_id)
        assert lead is not None
        return LeadOut.model_validate(lead)

    await assert_sent_as_the_model(org_a.id, items + records, model_of)
