"""Verifying the audit trail: each organisation's hash chains, recomputed (`keel audit verify`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from keel.core.uow import UnitOfWork


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
