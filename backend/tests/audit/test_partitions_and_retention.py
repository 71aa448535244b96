"""The audit trail by category and month: rows land in their month's partition, retention detaches whole
months past their category's limit into keel_archive, and every chain still verifies from its anchor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic import command
from psycopg import errors
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from keel.audit.retention import maintain, month_start
from keel.audit.service import verify_chain
from keel.core import db as core_db
from keel.core.audit_trail import category_of
from keel.core.config import get_settings
from keel.core.migrate import alembic_config
from keel.core.migrate import migrate as run_migrations
from keel.core.uow import job_unit_of_work
from tests.conftest import DatabaseUnderTest, Org
from tests.test_cli import fresh_database, keel

__all__ = ["fresh_database"]  # fixtures used here
RETENTION = {"money": 84, "security": 36, "access": 13, "general": 84}


def _maintain(test_database: DatabaseUnderTest, months_ago: int = 0) -> tuple[list[str], list[str]]:
    url = make_url(test_database.admin_conninfo()).set(drivername="postgresql+psycopg")
    engine = create_engine(url, poolclass=NullPool)
    today = month_start(datetime.now(UTC).date(), -months_ago)
    with engine.begin() as conn:
        done = maintain(conn, RETENTION, today=today)
    engine.dispose()
    return done.created, done.detached


async def _verify(org: Org) -> tuple[int, list[tuple[str, int, str]]]:
    async with job_unit_of_work(core_db.runtime_database(), org.id) as uow:
        checked, breaks = await verify_chain(uow)
    return checked, [(b.chain, b.seq, b.problem) for b in breaks]


def _old_row(admin: psycopg.Connection, org: Org, action: str, months_ago: int) -> None:
    at = month_start(datetime.now(UTC).date(), -months_ago).isoformat() + "T12:00:00+00:00"
    admin.execute(
        "INSERT INTO keel.audit_events (org_id, category, created_at, actor, action, entity_type) "
        "VALUES (%s, %s, %s, 'tests', %s, 'thing')",
        [org.id, category_of(action), at, action],
    )


def test_actions_fall_into_their_categories() -> None:
    assert category_of("invoice.approved") == "money"
    assert category_of("member.role_changed") == "security"
    assert category_of("audit.exported") == "access"
    assert category_of("deal.stage_changed") == "general"


async def test_rows_land_in_their_category_and_month(
    client: httpx.AsyncClient, org_a: Org, admin: psycopg.Connection
) -> None:
    await client.get("/api/v1/audit-events/export", headers=org_a.headers)  # access
    month = f"{datetime.now(UTC):%Y%m}"
    rows = admin.execute(
        "SELECT tableoid::regclass::text, action FROM keel.audit_events WHERE org_id = %s", [org_a.id]
    ).fetchall()
    assert set(rows) == {
        (f"keel.audit_events_{month}_security", "api_key.issued"),
        (f"keel.audit_events_{month}_access", "audit.exported"),
    }


async def test_retention_detaches_whole_old_months_and_the_chains_still_verify(
    client: httpx.AsyncClient,
    org_a: Org,
    org_b: Org,
    admin: psycopg.Connection,
    test_database: DatabaseUnderTest,
) -> None:
    created, _ = _maintain(test_database, months_ago=20)  # the months of twenty months ago exist
    assert f"audit_events_{month_start(datetime.now(UTC).date(), -20):%Y%m}" in created
    for org in (org_a, org_b):
        for _ in range(3):
            _old_row(admin, org, "audit.exported", months_ago=20)  # access: kept 13 months
        _old_row(admin, org, "invoice.paid", months_ago=20)  # money: kept 84 months
        for _ in range(2):
            await client.get("/api/v1/audit-events/export", headers=org.headers)  # access, this month
    assert await _verify(org_a) == (7, [])

    _, detached = _maintain(test_database)
    old = f"audit_events_{month_start(datetime.now(UTC).date(), -20):%Y%m}_access"
    assert old in detached and not any(name.endswith("_money") for name in detached)
    archived = admin.execute(f"SELECT count(*) FROM keel_archive.{old}").fetchone()
    assert archived == (6,)  # both organisations' three rows, out of the live trail
    kept = admin.execute(
        "SELECT category, seq FROM keel.audit_events WHERE org_id = %s ORDER BY category, seq", [org_a.id]
    ).fetchall()
    assert kept == [("access", 4), ("access", 5), ("money", 1), ("security", 1)]
    assert await _verify(org_a) == (4, [])  # the access chain starts from its anchor, seq 3
    assert await _verify(org_b) == (4, [])

    with (
        psycopg.connect(test_database.role_conninfo("keel_app")) as runtime,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        runtime.execute(f"SELECT count(*) FROM keel_archive.{old}")

    # Removing the first row still kept is a gap after the anchor, not a new beginning.
    admin.execute("SET row_security = off")
    admin.execute("ALTER TABLE keel.audit_events DISABLE TRIGGER audit_append_only")
    admin.execute(
        "DELETE FROM keel.audit_events WHERE org_id = %s AND category = 'access' AND seq = 4", [org_b.id]
    )
    admin.execute("ALTER TABLE keel.audit_events ENABLE TRIGGER audit_append_only")
    assert (await _verify(org_b))[1] == [("access", 5, "rows missing before this one")]


async def test_removing_the_newest_rows_of_a_chain_is_detected(
    client: httpx.AsyncClient, org_a: Org, admin: psycopg.Connection
) -> None:
    for i in range(3):
        await client.post("/api/v1/api-keys", json={"name": f"k{i}"}, headers=org_a.headers)
    admin.execute("SET row_security = off")
    admin.execute("ALTER TABLE keel.audit_events DISABLE TRIGGER audit_append_only")
    admin.execute("DELETE FROM keel.audit_events WHERE org_id = %s AND seq >= 3", [org_a.id])
    admin.execute("ALTER TABLE keel.audit_events ENABLE TRIGGER audit_append_only")
    assert await _verify(org_a) == (2, [("security", 4, "newest rows missing (up to this one)")])


def test_the_partitioning_migration_keeps_and_rechains_every_row(fresh_database: str, tmp_path: Path) -> None:
    url = make_url(fresh_database.replace("postgresql://", "postgresql+psycopg://", 1))
    run_migrations(get_settings(), "0007", url=url)
    actions = ["api_key.issued", "audit.exported", "deal.updated", "api_key.revoked", "deal.won"]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        orgs = [
            conn.execute(
                "INSERT INTO keel.organizations (name, slug) VALUES (%s, %s) RETURNING id", [name, name]
            ).fetchone()[0]  # type: ignore[index]
            for name in ("acme", "globex")
        ]
        for n, action in enumerate(actions * 2):
            conn.execute(
                "INSERT INTO keel.audit_events (org_id, actor, action, entity_type, after) "
                "VALUES (%s, 'tests', %s, 'thing', %s)",
                [orgs[n % 2], action, f'{{"n": {n}}}'],
            )
    command.upgrade(alembic_config(url), "0008")
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT org_id, category, seq, after->>'n' FROM keel.audit_events ORDER BY org_id, category, seq"
        ).fetchall()
    assert sorted(int(r[3]) for r in rows) == list(range(10))
    chains: dict[tuple[object, str], list[int]] = {}
    for org_id, category, seq, _ in rows:
        chains.setdefault((org_id, category), []).append(seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in chains.values())
    assert {category for _, category in chains} == {"security", "access", "general"}
    verified = keel(fresh_database, tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "acme: 5 rows, intact" in verified.stdout, verified.stdout

    command.downgrade(alembic_config(url), "0007")  # back to one chain per organisation
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        checked = conn.execute(
            "SELECT count(*), bool_and(hash = keel.audit_digest(e)), "
            "bool_and(seq = (SELECT count(*) FROM keel.audit_events o "
            "WHERE o.org_id = e.org_id AND o.seq <= e.seq)) FROM keel.audit_events e"
        ).fetchone()
    assert checked == (10, True, True)
