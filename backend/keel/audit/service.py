"""Verifying the audit trail: each organisation's hash chains, recomputed (`keel audit verify`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keel.audit import repository
from keel.core.uow import UnitOfWork


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: str
    problem: str  # "altered", "missing before this row", "out of order", "newest rows missing"
    chain: str = ""  # the category, for an organisation's trail


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
    rows = await repository.audit_chain_links(uow.session)
    breaks = []
    for category in dict.fromkeys(row.category for row in rows):
        breaks += chain_breaks([r for r in rows if r.category == category], category)
    for head in await repository.audit_chain_heads(uow.session):
        if head.kept is None or head.kept < head.seq:
            breaks.append(ChainBreak(head.seq, "", "newest rows missing (up to this one)", head.category))
    return len(rows), breaks
