"""The queries of custom field definitions and of the values records hold."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.models import Account, Contact, CustomField, Deal, Lead

Record = type[Account | Contact | Deal | Lead]


async def fields_of(session: AsyncSession, record_type: str) -> dict[str, CustomField]:
    """The record type's fields, by key."""
    rows = await session.scalars(select(CustomField).where(CustomField.record_type == record_type))
    return {f.key: f for f in rows}


async def all_fields(session: AsyncSession) -> list[CustomField]:
    query = select(CustomField).order_by(CustomField.record_type, CustomField.created_at, CustomField.key)
    return list(await session.scalars(query))


async def field_by_id_locked(session: AsyncSession, field_id: UUID) -> CustomField | None:
    return await session.scalar(select(CustomField).where(CustomField.id == field_id).with_for_update())


async def count_records_holding(session: AsyncSession, model: Record, key: str, value: Any | None) -> int:
    """How many records hold a value of field `key` (or this value) among those the session sees."""
    holds = model.custom.has_key(key) if value is None else model.custom.contains({key: value})
    return await session.scalar(select(func.count()).select_from(model).where(holds)) or 0


async def clear_values(session: AsyncSession, model: Record, key: str) -> None:
    """Remove field `key`'s value from every record the session sees."""
    await session.execute(
        update(model).where(model.custom.has_key(key)).values(custom=model.custom.op("-")(key))
    )
