"""The visibility harness: every owned record type registers here, and `test_visibility.py` proves, for
random owners, assignees, teams and viewers, that each of its read paths shows a viewer exactly the
records their scope allows — a Sales Rep never another rep's record.

A record type registers its table (created with `keel.core.rls.owned_table`) and its read paths: each
path is a function that, as one viewer, returns the ids it shows (get each id, list, search, export,
summaries, …). The database path (plain SQL as the runtime role) is added for every type by the harness.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg


@dataclass(frozen=True)
class Viewer:
    org_id: UUID
    user_id: UUID
    scope: str  # "own", "team" or "all"
    headers: dict[str, str] = field(default_factory=dict)  # the viewer's access token, for API paths
    client: Any = None  # an httpx.AsyncClient on the app, for API paths


# Creates one record owned by `owner` (assigned to `assignee`, if any) and returns its id.
Seed = Callable[[psycopg.Connection, UUID, UUID, UUID | None], str]
# Of all the records (their ids), the ones this path shows the viewer.
ReadPath = Callable[[Viewer, set[str]], Awaitable[set[str]]]


@dataclass(frozen=True)
class OwnedRecordType:
    name: str
    table: str
    seed: Seed
    paths: dict[str, ReadPath] = field(default_factory=dict)
    # The permission the API read paths need: a viewer without it is refused (403) and sees nothing.
    read_permission: str | None = None


REGISTRY: dict[str, OwnedRecordType] = {}


def register(record_type: OwnedRecordType) -> OwnedRecordType:
    REGISTRY[record_type.table] = record_type
    return record_type


def expected(
    viewer: Viewer, records: dict[str, tuple[UUID, UUID | None]], teams: dict[str, set[UUID]]
) -> set[str]:
    """The ids `viewer` may see under the rule of ADR 0010, computed independently of the database."""
    if viewer.scope == "all":
        return set(records)
    mates = {viewer.user_id}
    if viewer.scope == "team":
        for members in teams.values():
            if viewer.user_id in members:
                mates |= members
    own = {rid for rid, (owner, assignee) in records.items() if viewer.user_id in (owner, assignee)}
    if viewer.scope != "team":
        return own
    return own | {rid for rid, (owner, assignee) in records.items() if owner in mates or assignee in mates}


def visible_in_the_database(conn: psycopg.Connection, table: str, viewer: Viewer) -> set[str]:
    """What plain SQL as the runtime role returns, with the transaction set as a request sets it."""
    conn.execute(
        "SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s, true), "
        "set_config('app.scope', %s, true)",
        [str(viewer.org_id), str(viewer.user_id), viewer.scope],
    )
    rows = conn.execute(f"SELECT id::text FROM keel.{table}").fetchall()
    conn.rollback()
    return {r[0] for r in rows}
