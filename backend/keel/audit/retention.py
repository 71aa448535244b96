"""Audit partitions: months created ahead, each category's months past its retention detached.

Run by `keel audit maintain` (and at the end of `keel migrate`) as the owner, never by the runtime
roles: partitions are DDL. A detached month moves to the `keel_archive` schema, where no runtime role
can reach it, for the operator to export and drop. Before it goes, each chain's last row in it becomes
the chain's anchor, so `keel audit verify` still checks what remains from its first row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

from keel.core.audit_trail import CATEGORIES
from keel.core.db import DEFINER_ROLE, OWNER_ROLE

MONTHS_AHEAD = 6

_CHILDREN = text(
    """
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = CAST(:parent AS regclass)
    """
)
# The last row of each chain in the month being detached becomes that chain's anchor.
_ANCHOR = text(
    """
    UPDATE keel.audit_chains c SET anchor_seq = last.seq, anchor_hash = last.hash
    FROM (
        SELECT DISTINCT ON (org_id) org_id, category, seq, hash FROM keel.audit_events
        WHERE category = :category AND created_at >= :start AND created_at < :end
        ORDER BY org_id, seq DESC
    ) AS last
    WHERE c.org_id = last.org_id AND c.category = last.category
      AND (c.anchor_seq IS NULL OR c.anchor_seq < last.seq)
    """
)


@dataclass(frozen=True)
class Maintenance:
    created: list[str]
    detached: list[str]


def month_start(day: date, add: int = 0) -> date:
    months = day.year * 12 + day.month - 1 + add
    return date(months // 12, months % 12 + 1, 1)


def _children(conn: Connection, parent: str) -> dict[str, str]:
    """Partition name → its bound (`FOR VALUES FROM ('2026-11-01 …') TO (…)` or `FOR VALUES IN ('money')`)."""
    return {name: bound for name, bound in conn.execute(_CHILDREN, {"parent": f"keel.{parent}"}).all()}


def _create_month(conn: Connection, month: date) -> str:
    name = f"audit_events_{month:%Y%m}"
    conn.exec_driver_sql(
        f"CREATE TABLE keel.{name} PARTITION OF keel.audit_events FOR VALUES FROM ('{month.isoformat()}') "
        f"TO ('{month_start(month, 1).isoformat()}') PARTITION BY LIST (category)"
    )
    for category in CATEGORIES:
        conn.exec_driver_sql(
            f"CREATE TABLE keel.{name}_{category} PARTITION OF keel.{name} FOR VALUES IN ('{category}')"
        )
    return name


def maintain(conn: Connection, retention_months: dict[str, int], today: date | None = None) -> Maintenance:
    """Create the months up to MONTHS_AHEAD ahead; detach each category's months past its retention,
    and drop a month once every category has left it (it is then empty)."""
    missing = [c for c in CATEGORIES if c not in retention_months]
    if missing:
        raise ValueError(f"KEEL_AUDIT_RETENTION_MONTHS names no retention for {', '.join(missing)}")
    this_month = month_start(today or datetime.now(UTC).date())
    created, detached = [], []
    conn.exec_driver_sql(f"SET ROLE {OWNER_ROLE}")
    months = {
        date.fromisoformat(bound.split("'")[1][:10]): name
        for name, bound in _children(conn, "audit_events").items()
    }
    for ahead in range(MONTHS_AHEAD + 1):
        month = month_start(this_month, ahead)
        if month not in months:
            months[month] = _create_month(conn, month)
            created.append(months[month])
    for month, name in sorted(months.items()):
        leaves = _children(conn, name)
        for category in CATEGORIES:
            leaf = f"{name}_{category}"
            if leaf not in leaves or month >= month_start(this_month, -retention_months[category]):
                continue
            conn.exec_driver_sql(f"SET ROLE {DEFINER_ROLE}")  # reads every organisation's chains
            conn.execute(_ANCHOR, {"category": category, "start": month, "end": month_start(month, 1)})
            conn.exec_driver_sql(f"SET ROLE {OWNER_ROLE}")
            conn.exec_driver_sql(f"ALTER TABLE keel.{name} DETACH PARTITION keel.{leaf}")
            conn.exec_driver_sql(f"ALTER TABLE keel.{leaf} SET SCHEMA keel_archive")
            detached.append(leaf)
            del leaves[leaf]
        if not leaves:  # every category has gone to the archive: the month holds nothing
            conn.exec_driver_sql(f"ALTER TABLE keel.audit_events DETACH PARTITION keel.{name}")
            conn.exec_driver_sql(f"DROP TABLE keel.{name}")
    conn.exec_driver_sql("RESET ROLE")
    return Maintenance(created, detached)
