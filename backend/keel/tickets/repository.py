"""The queries of tickets and their list. No org_id filter anywhere on purpose: row-level security narrows
every row to the organisation and to the tickets the caller may see."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.json_reads import Document, JsonBody, json_record, json_timestamp
from keel.core.pagination import JsonPage, PageParams, Sort, json_keyset_page, sort_query
from keel.models import Ticket
from keel.tickets.schemas import Priority, TicketStatus

SORTS = sort_query({"created_at": Ticket.created_at, "updated_at": Ticket.updated_at}, Ticket.id)


async def ticket_by_id(session: AsyncSession, ticket_id: UUID, *, for_update: bool = False) -> Ticket | None:
    query = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        # Read again under the lock: the ticket may have changed since it was first read.
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


def tickets_matching(
    status: TicketStatus | None, priority: Priority | None, assignee_id: UUID | None, account_id: UUID | None
) -> Select[Any]:
    query = select(Ticket)
    if status is not None:
        query = query.where(Ticket.status == status)
    if priority is not None:
        query = query.where(Ticket.priority == priority)
    if assignee_id is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if account_id is not None:
        query = query.where(Ticket.account_id == account_id)
    return query


# The API's TicketOut, written by PostgreSQL.
TICKET_DOCUMENT: Document = {
    "id": Ticket.id,
    "subject": Ticket.subject,
    "description": Ticket.description,
    "account_id": Ticket.account_id,
    "contact_id": Ticket.contact_id,
    "status": Ticket.status,
    "priority": Ticket.priority,
    "owner_id": Ticket.owner_id,
    "assignee_id": Ticket.assignee_id,
    "tags": Ticket.tags,
    "first_response_at": json_timestamp(Ticket.first_response_at),
    "resolved_at": json_timestamp(Ticket.resolved_at),
    "closed_at": json_timestamp(Ticket.closed_at),
    "version": Ticket.version,
    "created_at": json_timestamp(Ticket.created_at),
    "updated_at": json_timestamp(Ticket.updated_at),
}


async def page_of_tickets(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams
) -> JsonPage:
    """A page of the list, as the JSON the API sends."""
    return await json_keyset_page(session, query, TICKET_DOCUMENT, sort=sort, params=params)


async def ticket_json(session: AsyncSession, ticket_id: UUID) -> tuple[JsonBody, int] | None:
    """One ticket as the JSON the API sends, and its version."""
    return await json_record(session, Ticket, ticket_id, TICKET_DOCUMENT)
