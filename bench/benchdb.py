"""What the benchmarks share: a fresh, migrated database whose name says it is for benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


@contextmanager
def statements_sent() -> Iterator[list[tuple[str, Any]]]:
    """Every statement this process sends through psycopg while the block runs, with its parameters:
    the ORM's and those run on the transaction's own connection (`keel.core.statements`) alike."""
    sent: list[tuple[str, Any]] = []
    original = psycopg.AsyncCursor.execute

    async def execute(self: psycopg.AsyncCursor[Any], query: Any, params: Any = None, **options: Any) -> Any:
        sent.append((query if isinstance(query, str) else query.as_string(self), params))
        return await original(self, query, params, **options)

    psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.AsyncCursor.execute = original  # type: ignore[method-assign]
