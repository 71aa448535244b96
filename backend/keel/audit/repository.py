from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from keel.audit.schemas import AuditFilter
from keel.core.pagination import PageParams, keyset_page, newest_first
from keel.models import AuditEvent

EXPORT_COLUMNS = [
    "category",
    "seq",
    "created_at",
    "actor",
    "client_id",
    "action",
    "entity_type",
    "entity_id",
    "request_id",
    "ip",
    "user_agent",
    "before",
    "after",
    "hash",
]


def _filtered(stmt: Select[Any], where: AuditFilter) -> Select[Any]:
    # No org_id filter here on purpose: the RLS policy scopes every row to the current organisation.
    for column, value in (
        (AuditEvent.action, where.action),
        (AuditEvent.entity_type, where.entity_type),
        (AuditEvent.entity_id, where.entity_id),
        (AuditEvent.actor, where.actor),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if where.since is not None:
        stmt = stmt.where(AuditEvent.created_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(AuditEvent.created_at < where.until)
    return stmt


async def list_events(
    session: AsyncSession, params: PageParams, where: AuditFilter
) -> tuple[Sequence[AuditEvent], str | None]:
    # Only what the response shows (the IP and user agent stay in the database).
    stmt = select(AuditEvent).options(
        load_only(
            AuditEvent.id,
            AuditEvent.category,
            AuditEvent.seq,
            AuditEvent.hash,
            AuditEvent.created_at,
            AuditEvent.actor,
            AuditEvent.client_id,
            AuditEvent.action,
            AuditEvent.entity_type,
            AuditEvent.entity_id,
            AuditEvent.request_id,
            AuditEvent.before,
            AuditEvent.after,
        )
    )
    newest = newest_first(AuditEvent.created_at, AuditEvent.id)
    return await keyset_page(session, _filtered(stmt, where), sort=newest, params=params)


async def stream_events(session: AsyncSession, where: AuditFilter) -> AsyncIterator[dict[str, Any]]:
    """Every matching row, oldest first, fetched in batches (memory stays flat whatever the count)."""
    stmt = (
        _filtered(select(AuditEvent), where)
        .order_by(AuditEvent.created_at, AuditEvent.id)
        .execution_options(yield_per=500)
    )
    async for event in await session.stream_scalars(stmt):
        row = {column: getattr(event, column) for column in EXPORT_COLUMNS}
        row["hash"] = event.hash.hex()
        row["ip"] = str(event.ip) if event.ip is not None else None
        yield row
