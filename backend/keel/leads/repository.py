"""The queries of leads, their list and export. No org_id or owner filter anywhere on purpose: row-level
security narrows every row to the organisation and the caller's record scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.pagination import PageParams, Sort, keyset_page, sort_query
from keel.leads.schemas import LeadFilter
from keel.models import Lead

SORTS = sort_query({"created_at": Lead.created_at, "updated_at": Lead.updated_at}, Lead.id)


async def lead_by_id(session: AsyncSession, lead_id: UUID, *, for_update: bool = False) -> Lead | None:
    query = select(Lead).where(Lead.id == lead_id)
    return await session.scalar(query.with_for_update() if for_update else query)


def leads_matching(where: LeadFilter, custom: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """The leads a list (and its export) shows: `where`'s filters and the custom-field conditions."""
    query = select(Lead).where(*custom)
    for field in ("owner_id", "status", "source"):
        if (value := getattr(where, field)) is not None:
            query = query.where(getattr(Lead, field) == value)
    if where.tag is not None:
        query = query.where(Lead.tags.contains([where.tag]))
    if where.email is not None:
        query = query.where(Lead.email == where.email.strip().lower())
    return query


async def page_of_leads(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams
) -> tuple[Sequence[Lead], str | None]:
    return await keyset_page(session, query, sort=sort, params=params)
