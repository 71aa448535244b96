"""Organisation A can neither read nor write organisation B's rows, whatever SQL it runs.

These tests talk to PostgreSQL as the runtime role `keel_app`, the same one the API and workers use,
and cover every table that carries `org_id`, so a table added later is covered from its first day.
"""

from __future__ import annotations

import base64
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy import text as sql_text

from keel.core.db import APP_ROLE, Database, role_url
from keel.core.uow import UnitOfWork
from tests.audit.test_compliance_export import run_jobs
from tests.conftest import PUBLIC_URL, DatabaseUnderTest, Org
from tests.identity.conftest import MakeUser, authorization_server, bearer, make_user, tokens_for

__all__ = ["authorization_server", "make_user"]  # fixtures used here


def _tenant_tables(admin: psycopg.Connection) -> list[tuple[str, str]]:
    """(table, tenant key column) for every table in the app schema that belongs to one tenant."""
    rows = admin.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped "
        "WHERE n.nspname = 'keel' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
    ).fetchall()
    return [("organizations", "id"), *[(r[0], "org_id") for r in rows]]


@pytest.fixture
async def two_busy_orgs(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> tuple[Org, Org]:
    """Both organisations have rows in every tenant table (through the API, as users would)."""
    for org in (org_a, org_b):
        member = await make_user(org, "org_admin")
        async with httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL) as browser:
            # A membership, a redeemed code, a refresh token.
            member_token = bearer((await tokens_for(browser, member))["access_token"])
        invited = await client.post(
            "/api/v1/invitations",
            json={"email": f"new@{org.slug}.example.com", "role": "sales_rep"},
            headers={**org.headers, "Idempotency-Key": "invite-1"},
        )
        assert invited.status_code == 201, invited.text
        current = await client.get("/api/v1/organization", headers=org.headers)
        patched = await client.patch(
            "/api/v1/organization",
            json={"name": f"{org.slug} renamed"},
            headers={**org.headers, "If-Match": current.headers["etag"]},
        )
        assert patched.status_code == 200
        issued = await client.post(
            "/api/v1/api-keys",
            json={"name": "integration"},
            headers={**org.headers, "Idempotency-Key": "seed-1"},
        )
        assert issued.status_code == 201
        role = await client.post(
            "/api/v1/roles",
            json={"key": "auditor", "name": "Auditor", "permissions": ["audit:read"], "record_scope": "own"},
            headers={**org.headers, "Idempotency-Key": "role-1"},
        )
        assert role.status_code == 201, role.text
        team = await client.post(
            "/api/v1/teams", json={"name": "North"}, headers={**org.headers, "Idempotency-Key": "team-1"}
        )
        assert team.status_code == 201, team.text
        joined = await client.put(
            f"/api/v1/teams/{team.json()['id']}/members/{member.id}", headers=org.headers
        )
        assert joined.status_code == 204, joined.text
        account = await client.post(
            "/api/v1/accounts",
            json={"name": "Acme", "owner_id": str(member.id)},
            headers={**org.headers, "Idempotency-Key": "account-1"},
        )
        assert account.status_code == 201, account.text
        contact = await client.post(
            "/api/v1/contacts",
            json={"last_name": "Lovelace", "owner_id": str(member.id), "account_ids": [account.json()["id"]]},
            headers={**org.headers, "Idempotency-Key": "contact-1"},
        )
        assert contact.status_code == 201, contact.text
        deal = await client.post(
            "/api/v1/deals",
            json={"name": "Renewal", "account_id": account.json()["id"], "owner_id": str(member.id)},
            headers={**org.headers, "Idempotency-Key": "deal-1"},
        )
        assert deal.status_code == 201, deal.text
        lead = await client.post(
            "/api/v1/leads",
            json={"last_name": "Hopper", "company": "Initech", "owner_id": str(member.id)},
            headers={**org.headers, "Idempotency-Key": "lead-1"},
        )
        converted = await client.post(f"/api/v1/leads/{lead.json()['id']}/conversion", headers=org.headers)
        assert converted.status_code == 201, converted.text
        ticket = await client.post(
            "/api/v1/tickets",
            json={
                "subject": "Cannot sign in",
                "account_id": account.json()["id"],
                "owner_id": str(member.id),
            },
            headers={**org.headers, "Idempotency-Key": "ticket-1"},
        )
        assert ticket.status_code == 201, ticket.text
        activity = await client.post(
            "/api/v1/activities",
            json={"kind": "call", "ticket_id": ticket.json()["id"], "owner_id": str(member.id)},
            headers={**org.headers, "Idempotency-Key": "activity-1"},
        )
        assert activity.status_code == 201, activity.text
        rule = await client.post(
            "/api/v1/assignment-rules",
            json={"name": "Inbound", "record_type": "lead", "team_id": team.json()["id"]},
            headers={**org.headers, "Idempotency-Key": "rule-1"},
        )
        assert rule.status_code == 201, rule.text
        field = await client.post(
            "/api/v1/custom-fields",
            json={"record_type": "account", "key": "tier", "label": "Tier", "type": "text"},
            headers={**org.headers, "Idempotency-Key": "field-1"},
        )
        assert field.status_code == 201, field.text
        view = await client.post(
            "/api/v1/saved-views",
            json={"name": "Mine", "record_type": "deal", "filters": {"status": "open"}, "shared": True},
            headers={**member_token, "Idempotency-Key": "view-1"},
        )
        assert view.status_code == 201, view.text
        exported = await client.post(
            "/api/v1/compliance-exports", headers={**org.headers, "Idempotency-Key": "export-1"}
        )
        assert exported.status_code == 202, exported.text
        imported = await client.post(
            "/api/v1/imports",
            json={
                "record_type": "account",
                "csv_base64": base64.b64encode(f"Name,Owner\nImported,{member.email}\n".encode()).decode(),
                "mapping": {"Name": "name", "Owner": "owner_email"},
            },
            headers={**org.headers, "Idempotency-Key": "import-1"},
        )
        assert imported.status_code == 202, imported.text
    await run_jobs(test_database)  # the import's ledger, the compliance export
    return org_a, org_b


def _as_org(conn: psycopg.Connection, org_id: UUID | str) -> None:
    # With the widest record scope (as a job or an API key has), and as the member whose saved view the
    # organisation shares (saved views are their members' own): isolation must hold even then.
    conn.execute(
        "SELECT set_config('app.org_id', %s, true), set_config('app.scope', 'all', true)", [str(org_id)]
    )
    conn.execute(
        "SELECT set_config('app.user_id', (SELECT user_id::text FROM keel.saved_views LIMIT 1), true)"
    )


def _count(conn: psycopg.Connection, table: str, key: str, org_id: UUID) -> int:
    query = sql.SQL("SELECT count(*) FROM keel.{} WHERE {} = %s").format(
        sql.Identifier(table), sql.Identifier(key)
    )
    row = conn.execute(query, [org_id]).fetchone()
    assert row is not None
    return int(row[0])


async def test_every_tenant_table_has_rows_of_both_orgs_to_protect(
    two_busy_orgs: tuple[Org, Org], admin: psycopg.Connection
) -> None:
    # Guards the tests below: a table nobody fills would make them pass vacuously.
    org_a, org_b = two_busy_orgs
    for table, key in _tenant_tables(admin):
        assert _count(admin, table, key, org_a.id) > 0, table
        assert _count(admin, table, key, org_b.id) > 0, table


async def test_org_a_reads_none_of_org_bs_rows_in_any_table(
    two_busy_orgs: tuple[Org, Org], admin: psycopg.Connection, runtime: psycopg.Connection
) -> None:
    org_a, org_b = two_busy_orgs
    for table, key in _tenant_tables(admin):
        _as_org(runtime, org_a.id)
        assert _count(runtime, table, key, org_b.id) == 0, table
        everything = sql.SQL("SELECT count(*) FROM keel.{}").format(sql.Identifier(table))
        row = runtime.execute(everything).fetchone()
        assert row is not None and row[0] == _count(admin, table, key, org_a.id), table
        runtime.rollback()


async def test_without_a_tenant_context_every_tenant_table_is_empty(
    two_busy_orgs: tuple[Org, Org], admin: psycopg.Connection, runtime: psycopg.Connection
) -> None:
    for context in (None, ""):
        for table, _ in _tenant_tables(admin):
            if context is not None:
                _as_org(runtime, context)
            query = sql.SQL("SELECT count(*) FROM keel.{}").format(sql.Identifier(table))
            assert runtime.execute(query).fetchone() == (0,), (table, context)
            runtime.rollback()


async def test_a_malformed_tenant_context_is_an_error_not_a_wildcard(
    two_busy_orgs: tuple[Org, Org], runtime: psycopg.Connection
) -> None:
    runtime.execute("SELECT set_config('app.org_id', %s, true)", ["' OR true --"])
    with pytest.raises(errors.InvalidTextRepresentation):
        runtime.execute("SELECT count(*) FROM keel.api_keys")
    runtime.rollback()


async def test_org_a_cannot_move_its_rows_into_org_b(
    two_busy_orgs: tuple[Org, Org], admin: psycopg.Connection, runtime: psycopg.Connection
) -> None:
    org_a, org_b = two_busy_orgs
    for table, key in _tenant_tables(admin):
        before = _count(admin, table, key, org_b.id)
        _as_org(runtime, org_a.id)
        move = sql.SQL("UPDATE keel.{} SET {} = %s WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(key), sql.Identifier(key)
        )
        # Either the policy's WITH CHECK refuses the new row, or the role may not update at all.
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute(move, [org_b.id, org_a.id])
        runtime.rollback()
        assert _count(admin, table, key, org_b.id) == before, table


async def test_org_a_cannot_insert_a_row_for_org_b(
    two_busy_orgs: tuple[Org, Org], admin: psycopg.Connection, runtime: psycopg.Connection
) -> None:
    org_a, org_b = two_busy_orgs
    for table, key in _tenant_tables(admin):
        before = _count(admin, table, key, org_b.id)
        _as_org(runtime, org_a.id)
        # Copy one of A's own rows, re-keyed to B (and a fresh id where the table has one).
        overrides = f"jsonb_build_object({sql.Literal(key).as_string(runtime)}, %s::uuid)"
        if key != "id" and table not in {"idempotency_keys"}:
            overrides += " || jsonb_build_object('id', gen_random_uuid())"
        stored = admin.execute(  # generated columns (search vectors) are the database's to fill
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            [f"keel.{table}"],
        ).fetchall()
        columns = sql.SQL(", ").join(sql.Identifier(name) for (name,) in stored)
        copy = sql.SQL(
            "INSERT INTO keel.{t} ({c}) SELECT {c} FROM (SELECT (jsonb_populate_record(NULL::keel.{t}, "
            "to_jsonb(r) || " + overrides + ")).* FROM keel.{t} r LIMIT 1) AS copied"
        ).format(t=sql.Identifier(table), c=columns)
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute(copy, [org_b.id])
        runtime.rollback()
        assert _count(admin, table, key, org_b.id) == before, table


async def test_org_a_cannot_change_or_delete_org_bs_rows(
    two_busy_orgs: tuple[Org, Org], admin: psycopg.Connection, runtime: psycopg.Connection
) -> None:
    org_a, org_b = two_busy_orgs
    for table, key in _tenant_tables(admin):
        for statement in (
            "UPDATE keel.{t} SET {k} = {k} WHERE {k} = %s",
            "DELETE FROM keel.{t} WHERE {k} = %s",
        ):
            _as_org(runtime, org_a.id)
            query = sql.SQL(statement).format(t=sql.Identifier(table), k=sql.Identifier(key))
            try:
                touched = runtime.execute(query, [org_b.id]).rowcount
            except errors.InsufficientPrivilege:
                touched = 0  # the role may not update or delete this table at all
            runtime.rollback()
            assert touched == 0, (table, statement)
        assert _count(admin, table, key, org_b.id) > 0


async def test_a_unique_violation_does_not_reveal_another_orgs_row(
    two_busy_orgs: tuple[Org, Org], client: httpx.AsyncClient
) -> None:
    # Both organisations used the Idempotency-Key "seed-1": keys are per organisation, so B's use
    # neither blocked A's nor replays into A.
    org_a, _ = two_busy_orgs
    listed = await client.get("/api/v1/api-keys", headers=org_a.headers)
    assert {k["name"] for k in listed.json()["items"]} == {"Initial key", "integration"}


async def test_a_pooled_connection_carries_no_tenant_context_to_the_next_user(
    test_database: DatabaseUnderTest,
    settings,
    org_a: Org,  # type: ignore[no-untyped-def]
) -> None:
    db = Database.connect(role_url(settings, APP_ROLE), pool_size=1, max_overflow=0, name="reuse-test")
    try:
        for finish in ("commit", "rollback"):
            async with db.sessions() as session:
                uow = UnitOfWork(session)
                await uow.enter_tenant(org_a.id)
                seen = await session.scalar(sql_text("SELECT count(*) FROM keel.api_keys"))
                assert seen == 1
                backend_pid = await session.scalar(sql_text("SELECT pg_backend_pid()"))
                await getattr(session, finish)()
            async with db.sessions() as session:
                assert await session.scalar(sql_text("SELECT pg_backend_pid()")) == backend_pid
                leftover = await session.scalar(sql_text("SELECT current_setting('app.org_id', true)"))
                assert leftover in (None, "")
                assert await session.scalar(sql_text("SELECT count(*) FROM keel.api_keys")) == 0
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE keel.api_keys DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE keel.api_keys NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE keel.api_keys ADD COLUMN leak text",
        "DROP POLICY tenant_isolation ON keel.api_keys",
        "CREATE POLICY open_door ON keel.api_keys USING (true)",
        "CREATE TABLE keel.shadow (id int)",
        "TRUNCATE keel.audit_events",
        "UPDATE keel.audit_events SET action = 'forged'",
        "DELETE FROM keel.audit_events",
        "SELECT rolpassword FROM pg_authid",
        "SELECT passwd FROM pg_shadow",
        "SET ROLE keel_owner",
        "SET ROLE keel_definer",
        "SET ROLE keel_platform",
        "SELECT * FROM keel.platform_audit_events",
        "INSERT INTO keel.signing_keys (kid, public_jwk, private_jwk_encrypted) VALUES ('x', '{}', 'x')",
        "UPDATE keel.signing_keys SET retired_at = now()",
        "DELETE FROM keel.signing_keys",
    ],
)
def test_the_runtime_role_cannot_weaken_isolation(runtime: psycopg.Connection, statement: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute(statement)
    runtime.rollback()


def test_the_runtime_role_cannot_switch_row_security_off(
    runtime: psycopg.Connection, test_database: DatabaseUnderTest
) -> None:
    runtime.execute("SET row_security = off")
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute("SELECT count(*) FROM keel.api_keys")
    runtime.rollback()
