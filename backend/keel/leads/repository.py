"""The queries of leads, their list and export. No org_id or owner filter anywhere on purpose: row-level
security narrows every row to the organisation and the caller's record scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.json_reads import Document, JsonBody, json_record, json_timestamp
from keel.core.pagination import JsonPage, PageParams, Sort, json_keyset_page, sort_query
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


# The API's LeadOut, written by PostgreSQL.
LEAD_DOCUMENT: Document = {
    "id": Lead.id,
    "first_name": Lead.first_name,
    "last_name": Lead.last_name,
    "company": Lead.company,
    "title": Lead.title,
    "email": Lead.email,
    "phone": Lead.phone,
    "country": Lead.country,
    "source": Lead.source,
    "status": Lead.status,
    "disqualified_reason": Lead.disqualified_reason,
    "owner_id": Lead.owner_id,
    "assignee_id": Lead.assignee_id,
    "tags": Lead.tags,
    "custom": Lead.custom,
    "external_id": Lead.external_id,
    "assignment_rule_id": Lead.assignment_rule_id,
    "version": Lead.version,
    "created_at": json_timestamp(Lead.created_at),
    "updated_at": json_timestamp(Lead.updated_at),
    "converted_at": json_timestamp(Lead.converted_at),
    "converted_by": Lead.converted_by,
    "account_id": Lead.account_id,
    "contact_id": Lead.contact_id,
    "deal_id": Lead.deal_id,
}


async def page_of_leads(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams
) -> JsonPage:
    """A page of the list, as the JSON the API sends."""
    return await json_keyset_page(session, query, LEAD_DOCUMENT, sort=sort, params=params)


async def lead_json(session: AsyncSession, lead_id: UUID) -> tuple[JsonBody, int] | None:
    """One lead as the JSON the API sends, and its version."""
    return await json_record(session, Lead, lead_id, LEAD_DOCUMENT)
