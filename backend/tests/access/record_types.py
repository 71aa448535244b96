"""The owned record types that exist, registered with the visibility harness with every read path."""

from __future__ import annotations

from uuid import UUID

import psycopg

from tests.access.visibility import OwnedRecordType, Viewer, register


def _seed_account(conn: psycopg.Connection, org_id: UUID, owner: UUID, assignee: UUID | None) -> str:
    row = conn.execute(
        "INSERT INTO keel.accounts (org_id, name, owner_id, assignee_id) VALUES (%s, 'Acme', %s, %s) "
        "RETURNING id::text",
        [org_id, owner, assignee],
    ).fetchone()
    assert row is not None
    return str(row[0])


async def _account_list(viewer: Viewer, ids: set[str]) -> set[str]:
    page = await viewer.client.get("/api/v1/accounts", params={"limit": 100}, headers=viewer.headers)
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


async def _account_get(viewer: Viewer, ids: set[str]) -> set[str]:
    shown = set()
    for account_id in ids:
        answer = await viewer.client.get(f"/api/v1/accounts/{account_id}", headers=viewer.headers)
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 200:
            shown.add(account_id)
    return shown


register(
    OwnedRecordType("account", "accounts", _seed_account, paths={"list": _account_list, "get": _account_get})
)


def _seed_contact(conn: psycopg.Connection, org_id: UUID, owner: UUID, assignee: UUID | None) -> str:
    row = conn.execute(
        "INSERT INTO keel.contacts (org_id, last_name, owner_id, assignee_id) "
        "VALUES (%s, 'Lovelace', %s, %s) RETURNING id::text",
        [org_id, owner, assignee],
    ).fetchone()
    assert row is not None
    return str(row[0])


async def _contact_list(viewer: Viewer, ids: set[str]) -> set[str]:
    page = await viewer.client.get("/api/v1/contacts", params={"limit": 100}, headers=viewer.headers)
    assert page.status_code == 200, page.text
    return {item["id"] for item in page.json()["items"]}


async def _contact_get(viewer: Viewer, ids: set[str]) -> set[str]:
    shown = set()
    for contact_id in ids:
        answer = await viewer.client.get(f"/api/v1/contacts/{contact_id}", headers=viewer.headers)
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 200:
            shown.add(contact_id)
    return shown


register(
    OwnedRecordType("contact", "contacts", _seed_contact, paths={"list": _contact_list, "get": _contact_get})
)
