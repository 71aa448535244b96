"""The audit trail: one row per state change, written in the transaction of the change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import text

from keel.audit.categories import category_of
from keel.core.uow import UnitOfWork
from keel.models import AuditEvent

SENSITIVE_FIELDS = frozenset({"secret", "secret_hash", "password", "token"})


def _redacted(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: ("[redacted]" if k in SENSITIVE_FIELDS else v) for k, v in values.items()}


def snapshot(record: object, fields: Sequence[str]) -> dict[str, Any]:
    """A record's `fields` as JSON values, for an audit row's before and after."""
    values: dict[str, Any] = {}
    for field in fields:
        value = getattr(record, field)
        if isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, list):
            value = list(value)
        values[field] = value
    return values


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, from each side."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


async def record_event(
    uow: UnitOfWork,
    action: str,
    *,
    entity_type: str,
    entity_id: object | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        org_id=uow.tenant,
        category=category_of(action),
        actor=uow.actor or "system",
        client_id=uow.client_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        request_id=uow.request_id,
        ip=uow.client_ip,
        user_agent=uow.user_agent,
        before=_redacted(before),
        after=_redacted(after),
    )
    uow.session.add(event)
    await uow.session.flush()
    return event


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: str
    problem: str  # "altered", "missing before this row", "out of order", "newest rows missing"
    chain: str = ""  # the category, for an organisation's trail


# Each row's hash recomputed from its content, and its link to the row before it (or, for the first
# row still kept, to the last row retention detached: the chain's anchor).
_VERIFY = text(
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
_HEADS = text(
    """
    SELECT c.category, c.seq,
           coalesce((SELECT max(e.seq) FROM keel.audit_events e WHERE e.category = c.category), c.anchor_seq)
           AS kept
    FROM keel.audit_chains c ORDER BY c.category
    """
)


def chain_breaks(rows: Sequence[Any], chain: str = "") -> list[ChainBreak]:
    """Each row that is altered, follows a gap, or is linked to the wrong predecessor."""
    breaks = []
    for row in rows:
        if not row.intact:
            breaks.append(ChainBreak(row.seq, row.id, "altered", chain))
        elif not row.consecutive:
            breaks.append(ChainBreak(row.seq, row.id, "rows missing before this one", chain))
        elif not row.linked:
            breaks.append(ChainBreak(row.seq, row.id, "out of order or re-linked", chain))
    return breaks


async def verify_chain(uow: UnitOfWork) -> tuple[int, list[ChainBreak]]:
    """Check the organisation's chains, one per category: (rows checked, every place one is broken)."""
    rows = (await uow.session.execute(_VERIFY)).all()
    breaks = []
    for category in dict.fromkeys(row.category for row in rows):
        breaks += chain_breaks([r for r in rows if r.category == category], category)
    for head in (await uow.session.execute(_HEADS)).all():
        if head.kept is None or head.kept < head.seq:
            breaks.append(ChainBreak(head.seq, "", "newest rows missing (up to this one)", head.category))
    return len(rows), breaks
