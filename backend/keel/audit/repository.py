"""The queries of audit: the trail's pages and exports, its hash chains recomputed, the security events
of user accounts, and what a compliance export reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Select, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from keel.audit.schemas import AuditFilter
from keel.core.json_reads import json_timestamp
from keel.core.pagination import JsonPage, PageParams, json_keyset_page, newest_first
from keel.models import AuditEvent, ComplianceExport, Membership, Organization, Team, TeamMember, User

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


# The API's AuditEventOut, written by PostgreSQL (the IP and user agent stay in the database).
EVENT_DOCUMENT = {
    "id": AuditEvent.id,
    "category": AuditEvent.category,
    "seq": AuditEvent.seq,
    "created_at": json_timestamp(AuditEvent.created_at),
    "actor": AuditEvent.actor,
    "client_id": AuditEvent.client_id,
    "action": AuditEvent.action,
    "entity_type": AuditEvent.entity_type,
    "entity_id": AuditEvent.entity_id,
    "request_id": AuditEvent.request_id,
    "before": AuditEvent.before,
    "after": AuditEvent.after,
    "hash": func.encode(AuditEvent.hash, literal_column("'hex'")),
}


async def events_page(session: AsyncSession, params: PageParams, where: AuditFilter) -> JsonPage:
    """A page of the trail, newest first, as the JSON the API sends."""
    newest = newest_first(AuditEvent.created_at, AuditEvent.id)
    return await json_keyset_page(
        session, _filtered(select(AuditEvent.id), where), EVENT_DOCUMENT, sort=newest, params=params
    )


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


# The hash chains ------------------------------------------------------------------------------------

# Each row's hash recomputed from its content, and its link to the row before it (or, for the first
# row still kept, to the last row retention detached: the chain's anchor).
_AUDIT_CHAIN_LINKS = text(
    """
    SELECT e.category, e.seq, e.id::text AS id,
           e.hash = keel.audit_digest(e.prev_hash, e.id, e.org_id, e.category, e.seq, e.created_at,
               e.actor, e.client_id, e.action, e.entity_type, e.entity_id, e.request_id, e.ip, e.user_agent,
               e.before, e.after) AS intact,
           e.prev_hash = coalesce(lag(e.hash) OVER w, c.anchor_hash, decode(repeat('00', 32), 'hex'))
               AS linked,
           e.seq = coalesce(lag(e.seq) OVER w, c.anchor_seq, 0) + 1 AS consecutive
    FROM keel.audit_events e
    LEFT JOIN keel.audit_chains c ON c.org_id = e.org_id AND c.category = e.category
    WINDOW w AS (PARTITION BY e.category ORDER BY e.seq)
    ORDER BY e.category, e.seq
    """
)
# Each chain's head, as the trigger last moved it, against the newest row still there.
_AUDIT_CHAIN_HEADS = text(
    """
    SELECT c.category, c.seq,
           coalesce((SELECT max(e.seq) FROM keel.audit_events e WHERE e.category = c.category), c.anchor_seq)
           AS kept
    FROM keel.audit_chains c ORDER BY c.category
    """
)
_AUDIT_CHAIN_HEAD_HASHES = text("SELECT category, seq, hash FROM keel.audit_chains ORDER BY category")
_SECURITY_CHAIN_LINKS = text(
    """
    SELECT subject, seq, id::text AS id, hash = keel.security_event_digest(e) AS intact,
           prev_hash = coalesce(lag(hash) OVER w, decode(repeat('00', 32), 'hex')) AS linked,
           seq = coalesce(lag(seq) OVER w, 0) + 1 AS consecutive
    FROM keel.security_events e
    WINDOW w AS (PARTITION BY subject ORDER BY seq)
    ORDER BY subject, seq
    """
)
# Through a definer function: the runtime role cannot write the table.
_APPEND_SECURITY_EVENT = text(
    "SELECT keel.record_security_event(:user_id, :email, :action, :ip, :user_agent, :request_id, "
    "CAST(:detail AS jsonb))"
)


async def audit_chain_links(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every row of the organisation's trail by category and seq: (category, seq, id, intact, linked,
    consecutive)."""
    return (await session.execute(_AUDIT_CHAIN_LINKS)).all()


async def audit_chain_heads(session: AsyncSession) -> Sequence[Row[Any]]:
    """Each of the organisation's chains: (category, seq of its head, seq of the newest row kept)."""
    return (await session.execute(_AUDIT_CHAIN_HEADS)).all()


async def audit_chain_head_hashes(session: AsyncSession) -> Sequence[Row[Any]]:
    """Each of the organisation's chains: (category, seq and hash of its head)."""
    return (await session.execute(_AUDIT_CHAIN_HEAD_HASHES)).all()


async def security_chain_links(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every security event the session may read, by subject and seq: (subject, seq, id, intact, linked,
    consecutive)."""
    return (await session.execute(_SECURITY_CHAIN_LINKS)).all()


async def append_security_event(
    session: AsyncSession,
    action: str,
    *,
    user_id: UUID | None,
    email: str | None,
    ip: str | None,
    user_agent: str | None,
    request_id: str | None,
    detail: Mapping[str, Any] | None,
) -> None:
    await session.execute(
        _APPEND_SECURITY_EVENT,
        {
            "user_id": user_id,
            "email": email,
            "action": action,
            "ip": ip,
            "user_agent": user_agent,
            "request_id": request_id,
            "detail": json.dumps(dict(detail)) if detail else None,
        },
    )


# Compliance exports ---------------------------------------------------------------------------------


async def organization_by_id(session: AsyncSession, org_id: UUID) -> Organization | None:
    return await session.get(Organization, org_id)


async def team_names_by_member(session: AsyncSession) -> dict[UUID, list[str]]:
    """The names of the teams each member is in, by user id."""
    teams: dict[UUID, list[str]] = {}
    rows = await session.execute(
        select(TeamMember.user_id, Team.name).join(Team, Team.id == TeamMember.team_id)
    )
    for user_id, name in rows.all():
        teams.setdefault(user_id, []).append(name)
    return teams


async def members_by_email(session: AsyncSession) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id).order_by(User.email)
    )
    return [(membership, user) for membership, user in rows.all()]


async def compliance_export_by_id(session: AsyncSession, export_id: UUID) -> ComplianceExport | None:
    return await session.get(ComplianceExport, export_id)


async def compliance_export_locked(session: AsyncSession, export_id: UUID) -> ComplianceExport | None:
    return await session.get(ComplianceExport, export_id, with_for_update=True)


async def compliance_export_archive(session: AsyncSession, export_id: UUID) -> bytes | None:
    """The export's zip (not loaded with the export: it can be large)."""
    return await session.scalar(select(ComplianceExport.archive).where(ComplianceExport.id == export_id))
