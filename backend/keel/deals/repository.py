"""The queries of deals, the stages they are at and their history, their list and export. No org_id or
owner filter anywhere on purpose: row-level security narrows every row to the organisation and the
caller's record scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, String, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.json_reads import Document, JsonBody, json_record, json_timestamp
from keel.core.pagination import JsonPage, PageParams, Sort, json_keyset_page, sort_query
from keel.deals.schemas import DealFilter
from keel.models import Deal, DealStageChange, Organization, Pipeline, Stage

SORTS = sort_query(
    {
        "created_at": Deal.created_at,
        "updated_at": Deal.updated_at,
        "name": func.lower(Deal.name, type_=String),
        "expected_close_date": Deal.expected_close_date,
    },
    Deal.id,
    nullable=frozenset({"expected_close_date"}),
)


async def deal_by_id(session: AsyncSession, deal_id: UUID, *, for_update: bool = False) -> Deal | None:
    query = select(Deal).where(Deal.id == deal_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def default_currency(session: AsyncSession, org_id: UUID) -> str | None:
    """The organisation's currency for a deal that names none."""
    return await session.scalar(
        select(Organization.settings["default_currency"].astext).where(Organization.id == org_id)
    )


async def stage_by_id(session: AsyncSession, stage_id: UUID) -> Stage | None:
    return await session.scalar(select(Stage).where(Stage.id == stage_id))


async def current_stage(session: AsyncSession, stage_id: UUID) -> Stage:
    """The stage a deal is at (always there: the deal refers to it)."""
    return await session.get_one(Stage, stage_id)


async def default_pipeline_id(session: AsyncSession) -> UUID | None:
    return await session.scalar(select(Pipeline.id).where(Pipeline.is_default))


async def first_open_stage(session: AsyncSession, pipeline_id: UUID | None) -> Stage | None:
    return await session.scalar(
        select(Stage)
        .where(Stage.pipeline_id == pipeline_id, Stage.outcome == "open")
        .order_by(Stage.position)
        .limit(1)
    )


async def outcomes_of_stages(session: AsyncSession, stage_ids: set[UUID]) -> dict[UUID, str]:
    rows = await session.execute(select(Stage.id, Stage.outcome).where(Stage.id.in_(stage_ids)))
    return {stage_id: outcome for stage_id, outcome in rows}


async def stage_changes_of_deal(session: AsyncSession, deal_id: UUID) -> Sequence[DealStageChange]:
    """The deal's moves between stages, oldest first."""
    rows = await session.scalars(
        select(DealStageChange)
        .where(DealStageChange.deal_id == deal_id)
        .order_by(DealStageChange.changed_at, DealStageChange.id)
    )
    return rows.all()


def deals_matching(where: DealFilter, custom: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """The deals a list (and its export) shows: `where`'s filters and the custom-field conditions."""
    query = select(Deal)
    for field in ("owner_id", "account_id", "pipeline_id", "stage_id"):
        if (value := getattr(where, field)) is not None:
            query = query.where(getattr(Deal, field) == value)
    if where.status is not None:
        query = query.where(Deal.stage_id.in_(select(Stage.id).where(Stage.outcome == where.status)))
    if where.tag is not None:
        query = query.where(Deal.tags.contains([where.tag]))
    if where.close_from is not None:
        query = query.where(Deal.expected_close_date >= where.close_from)
    if where.close_to is not None:
        query = query.where(Deal.expected_close_date <= where.close_to)
    return query.where(*custom)


# The API's DealOut, written by PostgreSQL, the status from the deal's stage in the same statement.
_STATUS = select(Stage.outcome).where(Stage.id == Deal.stage_id).scalar_subquery()
DEAL_DOCUMENT: Document = {
    "id": Deal.id,
    "name": Deal.name,
    "account_id": Deal.account_id,
    "primary_contact_id": Deal.primary_contact_id,
    "pipeline_id": Deal.pipeline_id,
    "stage_id": Deal.stage_id,
    "status": _STATUS,
    "amount_minor": Deal.amount_minor,
    "currency": Deal.currency,
    "expected_close_date": Deal.expected_close_date,
    "source": Deal.source,
    "lost_reason": Deal.lost_reason,
    "owner_id": Deal.owner_id,
    "assignee_id": Deal.assignee_id,
    "tags": Deal.tags,
    "custom": Deal.custom,
    "external_id": Deal.external_id,
    "assignment_rule_id": Deal.assignment_rule_id,
    "version": Deal.version,
    "created_at": json_timestamp(Deal.created_at),
    "updated_at": json_timestamp(Deal.updated_at),
    "stage_entered_at": json_timestamp(Deal.stage_entered_at),
    "closed_at": json_timestamp(Deal.closed_at),
}
# For a caller without `deal_amounts:read` (ADR 0012): the same, the amount and currency null.
DEAL_DOCUMENT_WITHOUT_AMOUNTS: Document = {**DEAL_DOCUMENT, "amount_minor": null(), "currency": null()}


def deal_document(amounts: bool) -> Document:
    return DEAL_DOCUMENT if amounts else DEAL_DOCUMENT_WITHOUT_AMOUNTS


async def page_of_deals(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams, *, amounts: bool
) -> JsonPage:
    """A page of the list, as the JSON the API sends (with the amounts or without)."""
    return await json_keyset_page(session, query, deal_document(amounts), sort=sort, params=params)


async def deal_json(session: AsyncSession, deal_id: UUID, *, amounts: bool) -> tuple[JsonBody, int] | None:
    """One deal as the JSON the API sends, and its version."""
    return await json_record(session, Deal, deal_id, deal_document(amounts))
