"""What the benchmarks share: a fresh, migrated database whose name says it is for benchmarks."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from keel.core.config import get_settings
from keel.core.db import admin_url
from keel.core.migrate import migrate


def recreate_database(url: str) -> None:
    """Drop and create the database at `url` (refused unless its name contains "bench"), then migrate.
    Keel's settings must already point at `url` (DATABASE_URL)."""
    name = make_url(url).database or ""
    if "bench" not in name:
        raise RuntimeError(f"refusing to drop database {name!r}: its name must contain 'bench'")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    migrate(get_settings(), url=admin_url(get_settings()))
