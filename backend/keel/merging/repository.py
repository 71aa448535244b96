"""The queries every merge of duplicates shares, whatever the record type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

# (what the response calls them, the model, its column referring to the merged record)
References = Sequence[tuple[str, Any, Any]]


async def records_locked(session: AsyncSession, model: Any, ids: Sequence[UUID]) -> dict[UUID, Any]:
    """Those of the records the caller sees, by id, locked for the merge."""
    found = await session.scalars(select(model).where(model.id.in_(ids)).with_for_update())
    return {record.id: record for record in found}


async def point_references_at(
    session: AsyncSession, survivor_id: UUID, duplicate_id: UUID, references: References
) -> dict[str, int]:
    """Every reference to the duplicate made to the survivor; how many moved, by name."""
    moved: dict[str, int] = {}
    for name, model, column in references:
        result = await session.execute(
            update(model).where(column == duplicate_id).values({column.key: survivor_id})
        )
        moved[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return moved
