from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from keel.core.pagination import PageParams, keyset_page
from keel.models import AuditEvent


async def list_events(
    session: AsyncSession,
    params: PageParams,
    *,
    action: str | None = None,
    entity_type: str | None = None,
) -> tuple[Sequence[AuditEvent], str | None]:
    # No org_id filter here on purpose: the RLS policy scopes every row to the current organisation.
    # Only what the response shows (the IP and user agent stay in the database).
    stmt = select(AuditEvent).options(
        load_only(
            AuditEvent.id,
            AuditEvent.seq,
            AuditEvent.hash,
            AuditEvent.created_at,
            AuditEvent.actor,
            AuditEvent.action,
            AuditEvent.entity_type,
            AuditEvent.entity_id,
            AuditEvent.request_id,
            AuditEvent.before,
            AuditEvent.after,
        )
    )
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    return await keyset_page(
        session, stmt, created_at=AuditEvent.created_at, row_id=AuditEvent.id, params=params
    )
