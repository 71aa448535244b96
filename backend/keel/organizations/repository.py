from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.models import Organization


async def get(session: AsyncSession, org_id: UUID, *, for_update: bool = False) -> Organization | None:
    stmt = select(Organization).where(Organization.id == org_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).one_or_none()


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    count = await session.scalar(select(func.count()).where(Organization.slug == slug))
    return bool(count)


async def list_all(session: AsyncSession) -> Sequence[Organization]:
    return (await session.scalars(select(Organization).order_by(Organization.created_at))).all()
