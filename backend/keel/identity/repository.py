from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.pagination import PageParams, keyset_page, newest_first
from keel.models import ApiKey


async def get_api_key(session: AsyncSession, key_id: UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_api_keys(session: AsyncSession, params: PageParams) -> tuple[Sequence[ApiKey], str | None]:
    return await keyset_page(
        session, select(ApiKey), sort=newest_first(ApiKey.created_at, ApiKey.id), params=params
    )
