"""The audit trail is append-only and tamper-evident: each organisation's rows form a hash chain."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import errors

from keel.audit.service import verify_chain
from keel.core import db as core_db
from keel.core.uow import job_unit_of_work
from tests.conftest import DatabaseUnderTest, Org, keel_cli


async def _write_events(client: httpx.AsyncClient, org: Org, count: int) -> None:
    for i in range(count):
        answer = await client.post("/api/v1/api-keys", json={"name": f"key {i}"}, headers=org.headers)
        assert answer.status_code == 201


async def _verify(org: Org) -> tuple[int, list[tuple[int, str]]]:
    async with job_unit_of_work(core_db.runtime_database(), org.id) as uow:
        checked, breaks = await verify_chain(uow)
    return checked, [(b.seq, b.problem) for b in breaks]


@pytest.fixture
def owner(test_database: DatabaseUnderTest) -> Iterator[psycopg.Connection]:
    """A superuser connection: what an attacker with full database access would have."""
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("ALTER TABLE keel.audit_events DISABLE TRIGGER audit_append_only")
        conn.execute("SET row_security = off")
        yield conn
        conn.execute("ALTER TABLE keel.audit_events ENABLE TRIGGER audit_append_only")


async def test_rows_are_numbered_and_chained_per_organisation(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    await _write_events(client, org_a, 3)
    await _write_events(client, org_b, 2)
    # Onboarding wrote the first key's event, so each chain starts at 1 with it.
    assert await _verify(org_a) == (4, [])
    assert await _verify(org_b) == (3, [])


async def test_concurrent_writes_in_one_organisation_keep_one_unbroken_chain(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    await asyncio.gather(*(_write_events(client, org_a, 1) for _ in range(12)))
    assert await _verify(org_a) == (13, [])


async def test_an_altered_row_is_named(
    client: httpx.AsyncClient, org_a: Org, owner: psycopg.Connection
) -> None:
    await _write_events(client, org_a, 4)
    owner.execute(
        'UPDATE keel.audit_events SET after = \'{"name": "forged"}\' WHERE org_id = %s AND seq = 3',
        [org_a.id],
    )
    assert await _verify(org_a) == (5, [(3, "altered")])


async def test_a_removed_row_is_named(
    client: httpx.AsyncClient, org_a: Org, owner: psycopg.Connection
) -> None:
    await _write_events(client, org_a, 4)
    owner.execute("DELETE FROM keel.audit_events WHERE org_id = %s AND seq = 2", [org_a.id])
    assert await _verify(org_a) == (4, [(3, "rows missing before this one")])


async def test_reordered_rows_are_named(
    client: httpx.AsyncClient, org_a: Org, owner: psycopg.Connection
) -> None:
    await _write_events(client, org_a, 4)
    for old, new in ((2, -2), (3, 2), (-2, 3)):  # swap rows 2 and 3
        owner.execute(
            "UPDATE keel.audit_events SET seq = %s WHERE org_id = %s AND seq = %s", [new, org_a.id, old]
        )
    _, breaks = await _verify(org_a)
    assert {seq for seq, _ in breaks} >= {2, 3}


async def test_a_rewritten_row_with_a_recomputed_hash_still_breaks_the_next_link(
    client: httpx.AsyncClient, org_a: Org, owner: psycopg.Connection
) -> None:
    await _write_events(client, org_a, 4)
    owner.execute(
        "UPDATE keel.audit_events e SET actor = 'someone else' WHERE org_id = %s AND seq = 2", [org_a.id]
    )
    owner.execute(
        "UPDATE keel.audit_events e SET hash = keel.audit_digest(prev_hash, id, org_id, category, seq, "
        "created_at, actor, client_id, action, entity_type, entity_id, request_id, ip, user_agent, "
        "before, after) "
        "WHERE org_id = %s AND seq = 2",
        [org_a.id],
    )
    assert await _verify(org_a) == (5, [(3, "out of order or re-linked")])


@pytest.mark.parametrize(
    "statement", ["UPDATE keel.audit_events SET actor = 'x'", "DELETE FROM keel.audit_events"]
)
async def test_nobody_changes_or_removes_audit_rows(
    client: httpx.AsyncClient, org_a: Org, test_database: DatabaseUnderTest, statement: str
) -> None:
    await _write_events(client, org_a, 1)
    with psycopg.connect(test_database.role_conninfo("keel_app")) as runtime:
        runtime.execute("SELECT set_config('app.org_id', %s, false)", [str(org_a.id)])
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute(statement)
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as superuser:
        superuser.execute("SET row_security = off")
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
            superuser.execute(statement)
    assert await _verify(org_a) == (2, [])


async def test_keel_audit_verify_reports_a_tampered_chain_and_fails(
    client: httpx.AsyncClient,
    org_a: Org,
    org_b: Org,
    owner: psycopg.Connection,
    test_database: DatabaseUnderTest,
) -> None:
    await _write_events(client, org_a, 2)
    code, output = await keel_cli(test_database, "audit", "verify")
    assert code == 0, output
    assert f"{org_a.slug}: 3 rows, intact" in output
    owner.execute(
        "UPDATE keel.audit_events SET action = 'nothing.happened' WHERE org_id = %s AND seq = 2", [org_a.id]
    )
    code, output = await keel_cli(test_database, "audit", "verify")
    assert code == 1
    assert "row 2" in output and "altered" in output
    assert f"{org_b.slug}: 1 rows, intact" in output
