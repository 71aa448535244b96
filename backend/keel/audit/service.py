"""The audit trail: one row per state change, written in the transaction of the change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from keel.core.uow import UnitOfWork
from keel.models import AuditEvent

SENSITIVE_FIELDS = frozenset({"secret", "secret_hash", "password", "token"})


def _redacted(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: ("[redacted]" if k in SENSITIVE_FIELDS else v) for k, v in values.items()}


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
        actor=uow.actor or "system",
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
    problem: str  # "altered", "missing before this row", "out of order"


# Each row's hash recomputed from its content, and its link to the row before it.
_VERIFY = text(
    """
    SELECT seq, id::text AS id, hash = keel.audit_digest(e) AS intact,
           prev_hash = coalesce(lag(hash) OVER w, decode(repeat('00', 32), 'hex')) AS linked,
           seq = coalesce(lag(seq) OVER w, 0) + 1 AS consecutive
    FROM keel.audit_events e
    WINDOW w AS (ORDER BY seq)
    ORDER BY seq
    """
)


def chain_breaks(rows: Sequence[Any]) -> list[ChainBreak]:
    """Each row that is altered, follows a gap, or is linked to the wrong predecessor."""
    breaks = []
    for row in rows:
        if not row.intact:
            breaks.append(ChainBreak(row.seq, row.id, "altered"))
        elif not row.consecutive:
            breaks.append(ChainBreak(row.seq, row.id, "rows missing before this one"))
        elif not row.linked:
            breaks.append(ChainBreak(row.seq, row.id, "out of order or re-linked"))
    return breaks


async def verify_chain(uow: UnitOfWork) -> tuple[int, list[ChainBreak]]:
    """Check the organisation's whole chain: (rows checked, every place it is broken)."""
    rows = (await uow.session.execute(_VERIFY)).all()
    return len(rows), chain_breaks(rows)
