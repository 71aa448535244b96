"""The queries of saved views. Row-level security keeps each member to their own views and the shared
ones."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.models import SavedView


async def view_names_of(session: AsyncSession, user_id: UUID) -> list[str]:
    return list(await session.scalars(select(SavedView.name).where(SavedView.user_id == user_id)))


async def views_for(session: AsyncSession, user_id: UUID | None, record_type: str | None) -> list[SavedView]:
    """The views the session sees (of one record type, if given) by name, the member's own first."""
    query = select(SavedView)
    if record_type is not None:
        query = query.where(SavedView.record_type == record_type)
    order: list[Any] = [SavedView.name, SavedView.id]
    if user_id is not None:
        order.insert(0, SavedView.user_id != user_id)  # false, the member's own, sorts first
    return list(await session.scalars(query.order_by(*order)))


async def view_by_id(session: AsyncSession, view_id: UUID) -> SavedView | None:
    return await session.scalar(select(SavedView).where(SavedView.id == view_id))


async def member_has_view_named(session: AsyncSession, user_id: UUID, name: str) -> bool:
    taken = select(SavedView.id).where(SavedView.user_id == user_id, SavedView.name == name)
    return await session.scalar(taken) is not None
