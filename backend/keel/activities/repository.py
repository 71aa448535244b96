"""The queries of activities and their list. No org_id filter anywhere on purpose: row-level security
narrows every row to the organisation and to the activities the caller may see."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.activities.schemas import ActivityFilter
from keel.core.json_reads import Document, JsonBody, json_record, json_timestamp
from keel.core.pagination import JsonPage, PageParams, Sort, json_keyset_page, sort_query
from keel.models import Account, Activity, Contact, Deal, Ticket

# What an activity may be on: its link's field → the record it names.
TARGETS: dict[str, type[Account | Contact | Deal | Ticket]] = {
    "account_id": Account,
    "contact_id": Contact,
    "deal_id": Deal,
    "ticket_id": Ticket,
}
SORTS = sort_query(
    {"created_at": Activity.created_at, "occurred_at": Activity.occurred_at, "due_at": Activity.due_at},
    Activity.id,
    nullable=frozenset({"due_at"}),
)


async def target_visible(session: AsyncSession, field: str, record_id: UUID) -> bool:
    """Whether the record a link `field` names is one the caller can see."""
    model = TARGETS[field]
    return await session.scalar(select(model.id).where(model.id == record_id)) is not None


async def activity_by_id(
    session: AsyncSession, activity_id: UUID, *, for_update: bool = False
) -> Activity | None:
    query = select(Activity).where(Activity.id == activity_id)
    if for_update:
        # Read again under the lock: the activity may have changed since it was first read.
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


def activities_matching(where: ActivityFilter) -> Select[Any]:
    query = select(Activity)
    for field in (*TARGETS, "kind", "assignee_id"):
        if (value := getattr(where, field)) is not None:
            query = query.where(getattr(Activity, field) == value)
    if where.open_tasks:
        query = query.where(Activity.kind == "task", Activity.done_at.is_(None))
    if where.due_before is not None:
        query = query.where(Activity.due_at < where.due_before)
    return query


# The API's ActivityOut, written by PostgreSQL.
ACTIVITY_DOCUMENT: Document = {
    "id": Activity.id,
    "kind": Activity.kind,
    "subject": Activity.subject,
    "body": Activity.body,
    "account_id": Activity.account_id,
    "contact_id": Activity.contact_id,
    "deal_id": Activity.deal_id,
    "ticket_id": Activity.ticket_id,
    "occurred_at": json_timestamp(Activity.occurred_at),
    "due_at": json_timestamp(Activity.due_at),
    "done_at": json_timestamp(Activity.done_at),
    "owner_id": Activity.owner_id,
    "assignee_id": Activity.assignee_id,
    "version": Activity.version,
    "created_at": json_timestamp(Activity.created_at),
    "updated_at": json_timestamp(Activity.updated_at),
}


async def page_of_activities(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams
) -> JsonPage:
    """A page of the list, as the JSON the API sends."""
    return await json_keyset_page(session, query, ACTIVITY_DOCUMENT, sort=sort, params=params)


async def activity_json(session: AsyncSession, activity_id: UUID) -> tuple[JsonBody, int] | None:
    """One activity as the JSON the API sends, and its version."""
    return await json_record(session, Activity, activity_id, ACTIVITY_DOCUMENT)
