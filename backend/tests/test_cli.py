"""The operator's commands, run as an operator would: in a process, against a fresh database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from keel.core.migrate import alembic_config
from keel.core.ops import migration_head
from tests.conftest import DatabaseUnderTest

BACKEND = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_database(test_database: DatabaseUnderTest) -> Iterator[str]:
    name = f"{test_database.name}_cli"
    server = test_database.admin.set(database="postgres", drivername="postgresql")
    conninfo = server.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def keel(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "KEEL_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "keel", *args],
        env=env,
        cwd=BACKEND,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_migrate_seed_and_platform_commands_are_repeatable(fresh_database: str, tmp_path: Path) -> None:
    for _ in range(2):
        migrated = keel(fresh_database, tmp_path, "migrate")
        assert migrated.returncode == 0, migrated.stderr
    first = keel(fresh_database, tmp_path, "seed")
    assert first.returncode == 0, first.stderr
    assert "change these passwords" in first.stdout and "org-admin@demo.keel.localhost" in first.stdout
    key = (tmp_path / "demo-api-key").read_text().strip()
    assert key.startswith("keel_sk_")
    for secret_file in ("demo-api-key", "demo-users"):
        assert oct((tmp_path / secret_file).stat().st_mode & 0o777) == "0o600"
    users = [line.split("\t") for line in (tmp_path / "demo-users").read_text().splitlines()]
    roles = sorted(role for role, _, _ in users)
    assert roles == ["finance", "manager", "org_admin", "sales_rep", "sales_rep", "support"]
    assert all(password in first.stdout for _, _, password in users)

    second = keel(fresh_database, tmp_path, "seed")
    assert second.returncode == 0 and "exists" in second.stdout
    created = keel(fresh_database, tmp_path, "orgs", "create", "Globex", "globex")
    assert created.returncode == 0 and "keel_sk_" in created.stdout
    duplicate = keel(fresh_database, tmp_path, "orgs", "create", "Globex again", "globex")
    assert duplicate.returncode != 0 and "taken" in (duplicate.stdout + duplicate.stderr)
    listed = keel(fresh_database, tmp_path, "orgs", "list")
    assert "demo" in listed.stdout and "globex" in listed.stdout

    with psycopg.connect(fresh_database) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM keel.platform_audit_events")]
    assert actions.count("organization.created") == 2
    assert "organization.listed" in actions
    assert actions.count("signing_key.rotated") == 1  # the first seed creates a signing key, once


def test_migrations_downgrade_to_nothing_and_back(fresh_database: str, tmp_path: Path) -> None:
    assert keel(fresh_database, tmp_path, "migrate").returncode == 0
    url = fresh_database.replace("postgresql://", "postgresql+psycopg://", 1)
    config = alembic_config(make_url(url))
    command.downgrade(config, "base")
    with psycopg.connect(fresh_database) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'keel'").fetchone()
    assert tables == (1,)  # only alembic_version remains
    command.upgrade(config, "head")
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute("SELECT version_num FROM keel.alembic_version").fetchone()
    assert row is not None and row[0] == migration_head()
