"""Activities: notes, calls, e-mails, meetings and tasks on records the author can see; bodies are
sanitised so they never run in a browser; readable by whoever sees a record they are on."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from keel.activities.repository import activity_by_id
from keel.activities.schemas import ActivityOut
from keel.core.uow import UnitOfWork
from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here
ACTIVITIES = "/api/v1/activities"
NOBODY = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("<p>Call <strong>Ada</strong> back</p>", "<p>Call <strong>Ada</strong> back</p>"),
        ("<p onclick='steal()'>Hi</p><script>steal()</script>", "<p>Hi</p>"),
        ('<a href="javascript:steal()">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        (
            '<a href="https://acme.example/q">quote</a>',
            '<a href="https://acme.example/q" rel="noopener noreferrer nofollow">quote</a>',
        ),
        ("<img src=x onerror=steal()>", ""),
        ("<svg><script>steal()</script></svg><iframe src=//evil></iframe>", ""),
        ("<style>body{display:none}</style>Plain & <simple>", "Plain &amp;"),
        ("<!-- hidden --><ul><li>one</li></ul>", "<ul><li>one</li></ul>"),
    ],
)
async def test_a_notes_body_is_sanitised_before_it_is_stored(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, written: str, stored: str
) -> None:
    rep = await make_user(org_a)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    note = await made(
        client,
        org_a.headers,
        ACTIVITIES,
        kind="note",
        account_id=account["id"],
        body=written,
        owner_id=str(rep.id),
    )
    assert note["body"] == stored
    assert (await client.get(f"{ACTIVITIES}/{note['id']}", headers=org_a.headers)).json()["body"] == stored


async def test_a_task_is_set_listed_among_open_tasks_and_done(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    token = await token_of(client, rep)
    account = await made(client, token, "/api/v1/accounts", name="Acme")
    deal = await made(client, token, "/api/v1/deals", name="Renewal", account_id=account["id"])
    task = await made(
        client,
        token,
        ACTIVITIES,
        kind="task",
        subject="Send quote",
        deal_id=deal["id"],
        due_at="2027-01-10T17:00:00Z",
    )
    assert task["assignee_id"] == str(rep.id) and task["done_at"] is None
    await made(client, token, ACTIVITIES, kind="meeting", subject="Kick-off", account_id=account["id"])

    async def subjects(**params: str) -> list[str]:
        page = await client.get(ACTIVITIES, params=params, headers=token)
        assert page.status_code == 200, page.text
        return [a["subject"] for a in page.json()["items"]]

    assert await subjects() == ["Kick-off", "Send quote"]
    assert await subjects(open_tasks="true") == ["Send quote"]
    assert await subjects(deal_id=deal["id"]) == ["Send quote"]
    assert await subjects(kind="meeting") == ["Kick-off"]
    assert await subjects(due_before="2027-01-11T00:00:00Z") == ["Send quote"]
    assert await subjects(due_before="2027-01-01T00:00:00Z") == []
    done = await client.patch(
        f"{ACTIVITIES}/{task['id']}", json={"done": True}, headers={**token, "If-Match": '"1"'}
    )
    assert done.status_code == 200 and done.json()["done_at"] is not None
    assert await subjects(open_tasks="true") == []
    meeting_done = await post(client, token, ACTIVITIES, kind="meeting", account_id=account["id"], done=True)
    assert meeting_done.status_code == 422  # done is for tasks
    trail = await client.get("/api/v1/audit-events", params={"entity_id": task["id"]}, headers=org_a.headers)
    assert [e["action"] for e in trail.json()["items"]] == ["activity.updated", "activity.created"]
    assert "body" not in trail.json()["items"][1]["after"]  # a digest, not the text
    assert (await client.delete(f"{ACTIVITIES}/{task['id']}", headers=token)).status_code == 204


async def test_whoever_sees_a_record_reads_its_activities_and_changes_only_their_own(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, colleague, outsider = await make_user(org_a), await make_user(org_a), await make_user(org_a)
    rep_token, colleague_token = await token_of(client, rep), await token_of(client, colleague)
    outsider_token = await token_of(client, outsider)
    # The account is the rep's, and the colleague is assigned to it.
    account = await made(
        client,
        org_a.headers,
        "/api/v1/accounts",
        name="Acme",
        owner_id=str(rep.id),
        assignee_id=str(colleague.id),
    )
    note = await made(
        client, colleague_token, ACTIVITIES, kind="note", account_id=account["id"], body="Met Ada"
    )
    assert note["owner_id"] == str(colleague.id)
    url = f"{ACTIVITIES}/{note['id']}"
    assert (await client.get(url, headers=rep_token)).json()["body"] == "Met Ada"
    listed = await client.get(ACTIVITIES, params={"account_id": account["id"]}, headers=rep_token)
    assert [a["id"] for a in listed.json()["items"]] == [note["id"]]
    refused = await client.patch(url, json={"body": "Rewritten"}, headers={**rep_token, "If-Match": '"1"'})
    assert refused.status_code == 403
    assert (await client.delete(url, headers=rep_token)).status_code == 403
    assert (await client.get(url, headers=outsider_token)).status_code == 404
    assert (await client.get(ACTIVITIES, headers=outsider_token)).json()["items"] == []
    # Nobody logs an activity on a record they cannot see.
    hidden = await post(client, outsider_token, ACTIVITIES, kind="note", account_id=account["id"])
    assert hidden.status_code == 422
    assert (await client.get(url, headers=colleague_token)).json()["body"] == "Met Ada"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "note"},  # on nothing
        {"kind": "letter", "account_id": "A"},
        {"kind": "note", "account_id": NOBODY},
        {"kind": "note", "deal_id": NOBODY},
        {"kind": "note", "ticket_id": NOBODY},
        {"kind": "note", "account_id": "A", "due_at": "2027-01-01T00:00:00Z"},
        {"kind": "task", "account_id": "A", "due_at": "2027-01-01T00:00:00"},  # no time zone
        {"kind": "note", "account_id": "A", "subject": "x" * 201},
        {"kind": "note", "account_id": "A", "body": "<p>" + "x" * 100_000 + "</p>"},
        {"kind": "task", "account_id": "A", "assignee_id": NOBODY},
    ],
)
async def test_bad_activities_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    org_a: Org,
    make_user: MakeUser,
    admin: psycopg.Connection,
    body: dict[str, Any],
) -> None:
    rep = await make_user(org_a)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    if body.get("account_id") == "A":
        body = {**body, "account_id": account["id"]}
    answer = await post(client, org_a.headers, ACTIVITIES, owner_id=str(rep.id), **body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert admin.execute("SELECT count(*) FROM keel.activities WHERE org_id = %s", [org_a.id]).fetchone() == (
        0,
    )


async def test_a_ten_megabyte_body_is_refused_before_it_is_read(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    rep = await make_user(org_a)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    answer = await post(
        client,
        org_a.headers,
        ACTIVITIES,
        kind="note",
        account_id=account["id"],
        body="x" * 10_000_000,
        owner_id=str(rep.id),
    )
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    assert admin.execute("SELECT count(*) FROM keel.activities WHERE org_id = %s", [org_a.id]).fetchone() == (
        0,
    )


async def test_removing_a_record_leaves_activities_on_the_others(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    deal = await made(
        client, org_a.headers, "/api/v1/deals", name="D", account_id=account["id"], owner_id=str(rep.id)
    )
    call = await made(
        client,
        org_a.headers,
        ACTIVITIES,
        kind="call",
        account_id=account["id"],
        deal_id=deal["id"],
        owner_id=str(rep.id),
    )
    assert (await client.delete(f"/api/v1/deals/{deal['id']}", headers=org_a.headers)).status_code == 204
    kept = (await client.get(f"{ACTIVITIES}/{call['id']}", headers=org_a.headers)).json()
    assert (kept["account_id"], kept["deal_id"]) == (account["id"], None)


async def test_the_database_lets_a_linked_reader_read_but_never_change(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, runtime: psycopg.Connection
) -> None:
    rep, author = await make_user(org_a), await make_user(org_a)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    note = await made(
        client, org_a.headers, ACTIVITIES, kind="note", account_id=account["id"], owner_id=str(author.id)
    )
    ticket = await made(
        client,
        org_a.headers,
        "/api/v1/tickets",
        subject="S",
        account_id=account["id"],
        owner_id=str(author.id),
    )
    for table, row_id in (("activities", note["id"]), ("tickets", ticket["id"])):
        runtime.execute(
            "SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s, true), "
            "set_config('app.scope', 'own', true)",
            [str(org_a.id), str(rep.id)],
        )
        assert runtime.execute(f"SELECT count(*) FROM keel.{table} WHERE id = %s", [row_id]).fetchone() == (
            1,
        )
        for_update = runtime.execute(f"SELECT id FROM keel.{table} WHERE id = %s FOR UPDATE", [row_id])
        assert for_update.fetchall() == []
        assert runtime.execute(f"UPDATE keel.{table} SET version = 9 WHERE id = %s", [row_id]).rowcount == 0
        assert runtime.execute(f"DELETE FROM keel.{table} WHERE id = %s", [row_id]).rowcount == 0
        runtime.rollback()


async def test_the_list_and_the_record_written_by_postgresql_are_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    token = await token_of(client, rep)
    account = await made(client, token, "/api/v1/accounts", name="Acme")
    deal = await made(client, token, "/api/v1/deals", name="Renewal", account_id=account["id"])
    contact = await made(client, token, "/api/v1/contacts", last_name="Ada", account_ids=[account["id"]])
    ticket = await made(
        client,
        org_a.headers,
        "/api/v1/tickets",
        subject="Slow",
        account_id=account["id"],
        owner_id=str(rep.id),
    )
    await made(client, token, ACTIVITIES, kind="note", subject="Bare", account_id=account["id"])
    task = await made(
        client, token, ACTIVITIES, kind="task", subject="Send quote", body="<p>With <b>prices</b></p>",
        deal_id=deal["id"], due_at="2027-01-10T17:00:00.250000+01:00",
    )  # fmt: skip
    current = await client.get(f"{ACTIVITIES}/{task['id']}", headers=token)
    done = await client.patch(
        f"{ACTIVITIES}/{task['id']}",
        json={"done": True},
        headers={**token, "If-Match": current.headers["etag"]},
    )
    assert done.status_code == 200 and done.json()["done_at"] is not None
    await made(
        client, token, ACTIVITIES, kind="task", subject="Open task", contact_id=contact["id"],
        due_at="2027-01-09T08:00:00Z", assignee_id=str(rep.id),
    )  # fmt: skip
    unusual = {"subject": 'Called "Ada" ☃ 𝄞', "body": '<p>Said: "no" \\ back\\slash\n<em>naïve</em></p>'}
    call = await client.post(
        ACTIVITIES,
        json={"kind": "call", "ticket_id": ticket["id"], "contact_id": contact["id"], **unusual},
        headers={**token, "Idempotency-Key": "unusual-call"},
    )
    assert call.status_code == 201, call.text  # on a ticket and a contact, none on the account or deal
    assert {f: call.json()[f] for f in unusual} == unusual  # text JSON must escape, and text it must not
    listed = (await client.get(ACTIVITIES, params={"limit": 3}, headers=token)).json()
    rest = await client.get(ACTIVITIES, params={"limit": 3, "cursor": listed["next_cursor"]}, headers=token)
    assert rest.json()["next_cursor"] is None
    items = listed["items"] + rest.json()["items"]
    assert [i["subject"] for i in items] == [unusual["subject"], "Open task", "Send quote", "Bare"]
    for sort in ("due_at", "-due_at"):  # a nullable timestamp as the page's key, in its cursor
        walked, cursor = [], None
        for _ in range(len(items)):
            page = await client.get(
                ACTIVITIES, params={"sort": sort, "limit": 1, **({"cursor": cursor} if cursor else {})},
                headers=token,
            )  # fmt: skip
            walked += page.json()["items"]
            if (cursor := page.json()["next_cursor"]) is None:
                break
        due = [i["subject"] for i in walked if i["due_at"] is not None]
        assert due == (["Open task", "Send quote"] if sort == "due_at" else ["Send quote", "Open task"])
        assert sorted(walked, key=lambda i: i["id"]) == sorted(items, key=lambda i: i["id"])
    records = []
    for item in items:
        one = await client.get(f"{ACTIVITIES}/{item['id']}", headers=token)
        assert one.status_code == 200 and one.headers["etag"] == f'"{item["version"]}"'
        assert one.json() == item
        records.append(one.json())
    read_after = next(r for r in records if r["id"] == task["id"])  # as the change answered (the ORM's)
    assert ActivityOut.model_validate(read_after) == ActivityOut.model_validate(done.json())

    async def model_of(uow: UnitOfWork, activity_id: UUID) -> ActivityOut:
        activity = await activity_by_id(uow.session, activity_id)
        assert activity is not None
        return ActivityOut.model_validate(activity)

    await assert_sent_as_the_model(org_a.id, items + records, model_of)
