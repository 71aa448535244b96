"""Tickets: support requests with status, priority and assignee; first-response and resolution times for
the support reports; readable by whoever sees the account; closed is final."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from keel.core.uow import UnitOfWork
from keel.tickets.repository import ticket_by_id
from keel.tickets.schemas import TicketOut
from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here
TICKETS = "/api/v1/tickets"
NOBODY = "00000000-0000-0000-0000-000000000001"


async def change(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], **fields: Any
) -> httpx.Response:
    current = await client.get(f"{TICKETS}/{ticket['id']}", headers=headers)
    return await client.patch(
        f"{TICKETS}/{ticket['id']}", json=fields, headers={**headers, "If-Match": current.headers["etag"]}
    )


async def test_a_ticket_is_answered_solved_reopened_and_closed_with_its_times_kept(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    agent = await make_user(org_a, "support")
    token = await token_of(client, agent)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(agent.id))
    contact = await made(
        client,
        org_a.headers,
        "/api/v1/contacts",
        last_name="Ada",
        account_ids=[account["id"]],
        owner_id=str(agent.id),
    )
    ticket = await made(
        client,
        token,
        TICKETS,
        subject="Invoice PDF is empty",
        description="Since Monday <b>every</b> PDF is blank.",
        account_id=account["id"],
        contact_id=contact["id"],
        priority="high",
        assignee_id=str(agent.id),
    )
    assert (ticket["status"], ticket["priority"], ticket["first_response_at"]) == ("open", "high", None)
    assert ticket["description"] == "Since Monday <b>every</b> PDF is blank."  # plain text, kept as written
    pending = (await change(client, token, ticket, status="pending")).json()
    assert pending["first_response_at"] is not None and pending["resolved_at"] is None
    solved = (await change(client, token, ticket, status="solved")).json()
    assert solved["resolved_at"] is not None
    reopened = (await change(client, token, ticket, status="open")).json()
    assert reopened["resolved_at"] is None and reopened["first_response_at"] == pending["first_response_at"]
    await change(client, token, ticket, status="solved")
    closed = (await change(client, token, ticket, status="closed")).json()
    assert closed["closed_at"] is not None and closed["resolved_at"] is not None
    for fields in ({"status": "open"}, {"subject": "Again"}):
        final = await change(client, token, ticket, **fields)
        assert final.status_code == 409, final.text
    listed = await client.get(
        TICKETS, params={"status": "closed", "account_id": account["id"]}, headers=token
    )
    assert [t["id"] for t in listed.json()["items"]] == [ticket["id"]]
    trail = await client.get(
        "/api/v1/audit-events", params={"entity_id": ticket["id"]}, headers=org_a.headers
    )
    assert [e["action"] for e in trail.json()["items"]] == ["ticket.updated"] * 5 + ["ticket.created"]


async def test_a_call_logged_on_a_ticket_is_its_first_response(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    agent = await make_user(org_a, "support")
    token = await token_of(client, agent)
    ticket = await made(client, token, TICKETS, subject="Slow reports")
    note = await made(
        client, token, "/api/v1/activities", kind="note", ticket_id=ticket["id"], body="internal"
    )
    assert (await client.get(f"{TICKETS}/{ticket['id']}", headers=token)).json()["first_response_at"] is None
    call = await made(
        client,
        token,
        "/api/v1/activities",
        kind="call",
        ticket_id=ticket["id"],
        occurred_at="2026-11-30T09:15:00Z",
    )
    answered = (await client.get(f"{TICKETS}/{ticket['id']}", headers=token)).json()
    assert answered["first_response_at"] == "2026-11-30T09:15:00Z"
    await made(client, token, "/api/v1/activities", kind="email", ticket_id=ticket["id"])
    assert (await client.get(f"{TICKETS}/{ticket['id']}", headers=token)).json()["first_response_at"] == (
        "2026-11-30T09:15:00Z"
    )
    assert note["id"] != call["id"]


async def test_a_sales_rep_reads_the_tickets_of_their_accounts_and_changes_none(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, agent = await make_user(org_a), await make_user(org_a, "support")
    token = await token_of(client, rep)
    mine = await made(client, org_a.headers, "/api/v1/accounts", name="Mine", owner_id=str(rep.id))
    other = await made(client, org_a.headers, "/api/v1/accounts", name="Other", owner_id=str(agent.id))
    on_mine = await made(
        client, org_a.headers, TICKETS, subject="A", account_id=mine["id"], owner_id=str(agent.id)
    )
    await made(client, org_a.headers, TICKETS, subject="B", account_id=other["id"], owner_id=str(agent.id))
    assert [t["id"] for t in (await client.get(TICKETS, headers=token)).json()["items"]] == [on_mine["id"]]
    assert (await client.get(f"{TICKETS}/{on_mine['id']}", headers=token)).status_code == 200
    refused = await client.patch(
        f"{TICKETS}/{on_mine['id']}", json={"status": "solved"}, headers={**token, "If-Match": '"1"'}
    )
    assert refused.status_code == 403
    # A call the rep logs on it still counts as the customer's first answer.
    call = await post(client, token, "/api/v1/activities", kind="call", ticket_id=on_mine["id"])
    assert call.status_code == 201, call.text
    assert (await client.get(f"{TICKETS}/{on_mine['id']}", headers=token)).json()[
        "first_response_at"
    ] is not None
    # Handed to another account, the ticket leaves the rep's sight.
    moved = await change(client, org_a.headers, on_mine, account_id=other["id"])
    assert moved.status_code == 200
    assert (await client.get(f"{TICKETS}/{on_mine['id']}", headers=token)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"subject": ""},
        {"subject": "S", "priority": "critical"},
        {"subject": "S", "status": "closed"},  # a ticket starts open
        {"subject": "S", "account_id": NOBODY},
        {"subject": "S", "contact_id": NOBODY},
        {"subject": "S", "description": "x" * 20_001},
        {"subject": "S", "assignee_id": NOBODY},
    ],
)
async def test_bad_tickets_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    org_a: Org,
    make_user: MakeUser,
    body: dict[str, Any],
    admin: psycopg.Connection,
) -> None:
    agent = await make_user(org_a, "support")
    answer = await post(client, org_a.headers, TICKETS, owner_id=str(agent.id), **body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert admin.execute("SELECT count(*) FROM keel.tickets WHERE org_id = %s", [org_a.id]).fetchone() == (0,)


async def test_a_contact_of_another_account_or_organisation_is_refused(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    agent, stranger = await make_user(org_a, "support"), await make_user(org_b)
    acme = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(agent.id))
    loose = await made(client, org_a.headers, "/api/v1/contacts", last_name="Loose", owner_id=str(agent.id))
    theirs = await made(client, org_b.headers, "/api/v1/contacts", last_name="B", owner_id=str(stranger.id))
    for contact in (loose["id"], theirs["id"]):
        refused = await post(
            client,
            org_a.headers,
            TICKETS,
            subject="S",
            account_id=acme["id"],
            contact_id=contact,
            owner_id=str(agent.id),
        )
        assert refused.status_code == 422, refused.text
    their_ticket = await made(client, org_b.headers, TICKETS, subject="B", owner_id=str(stranger.id))
    assert (await client.get(f"{TICKETS}/{their_ticket['id']}", headers=org_a.headers)).status_code == 404
    assert (await client.delete(f"{TICKETS}/{their_ticket['id']}", headers=org_a.headers)).status_code == 404


async def test_the_list_and_the_record_written_by_postgresql_are_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    agent = await make_user(org_a, "support")
    token = await token_of(client, agent)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(agent.id))
    contact = await made(
        client, org_a.headers, "/api/v1/contacts", last_name="Ada", account_ids=[account["id"]],
        owner_id=str(agent.id),
    )  # fmt: skip
    await made(client, token, TICKETS, subject="Bare", description="")  # no account, contact or times
    unusual = {  # text JSON must escape, and text it must not
        "subject": 'Solved "at last" ☃', "description": 'It <b>works</b> now\n\t"quoted" \\ back\\slash 𝄞 é',
    }  # fmt: skip
    answer = await client.post(
        TICKETS,
        json={
            "account_id": account["id"], "contact_id": contact["id"], "priority": "urgent",
            "assignee_id": str(agent.id), "tags": ["billing", "vip"], **unusual,
        },
        headers={**token, "Idempotency-Key": "unusual"},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    solved = answer.json()
    assert {f: solved[f] for f in unusual} == unusual
    await change(client, token, solved, status="pending")
    assert (await change(client, token, solved, status="solved")).status_code == 200  # two times set
    closed = await made(client, token, TICKETS, subject="Closed", priority="low", account_id=account["id"])
    closing = await change(client, token, closed, status="closed")
    assert closing.status_code == 200  # three times set
    await made(client, token, TICKETS, subject="Third", description="x", account_id=account["id"])
    listed = (await client.get(TICKETS, params={"limit": 3}, headers=token)).json()
    rest = await client.get(TICKETS, params={"limit": 3, "cursor": listed["next_cursor"]}, headers=token)
    assert rest.json()["next_cursor"] is None
    items = listed["items"] + rest.json()["items"]
    assert [i["subject"] for i in items] == ["Third", "Closed", solved["subject"], "Bare"]
    assert {i["status"] for i in items} == {"open", "solved", "closed"}
    by_update = (await client.get(TICKETS, params={"sort": "-updated_at", "limit": 1}, headers=token)).json()
    assert by_update["items"] == [items[0]] and by_update["next_cursor"] is not None
    records = []
    for item in items:
        one = await client.get(f"{TICKETS}/{item['id']}", headers=token)
        assert one.status_code == 200 and one.headers["etag"] == f'"{item["version"]}"'
        assert one.json() == item
        records.append(one.json())
    read_after = next(r for r in records if r["id"] == closed["id"])  # as the change answered (the ORM's)
    assert TicketOut.model_validate(read_after) == TicketOut.model_validate(closing.json())

    async def model_of(uow: UnitOfWork, ticket_id: UUID) -> TicketOut:
        ticket = await ticket_by_id(uow.session, ticket_id)
        assert ticket is not None
        return TicketOut.model_validate(ticket)

    await assert_sent_as_the_model(org_a.id, items + records, model_of)
