from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, Page, PageQuery, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.tickets import service
from keel.tickets.schemas import Priority, TicketCreate, TicketOut, TicketPatch, TicketStatus

TicketsRead = Annotated[Principal, allowed(Permission.TICKETS_READ)]
TicketsManage = Annotated[Principal, allowed(Permission.TICKETS_MANAGE)]

router = APIRouter(prefix="/tickets", tags=["tickets"], route_class=UnitOfWorkRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TicketOut, responses=sends_etag(201))
async def create_ticket(
    body: TicketCreate, principal: TicketsManage, _: Idempotent, uow: UoW, response: Response
) -> TicketOut:
    """Open a support ticket, optionally for an account and one of its contacts."""
    ticket = await service.create_ticket(uow, principal, body)
    response.headers["ETag"] = etag(ticket.version)
    return TicketOut.model_validate(ticket)


@router.get("", response_model=Page[TicketOut])
async def list_tickets(
    principal: TicketsRead,
    uow: UoW,
    page: PageQuery,
    sort: Annotated[Sort, Depends(service.SORTS)],
    status: TicketStatus | None = None,
    priority: Priority | None = None,
    assignee_id: UUID | None = None,
    account_id: UUID | None = None,
) -> JsonPage:
    """The tickets the caller may see (their scope, and those of accounts they see), newest first
    unless sorted otherwise."""
    return await service.list_tickets(
        uow, page, sort, status=status, priority=priority, assignee_id=assignee_id, account_id=account_id
    )


@router.get("/{ticket_id}", response_model=TicketOut, responses=sends_etag())
async def get_ticket(ticket_id: UUID, principal: TicketsRead, uow: UoW) -> JsonBody:
    ticket, version = await service.read_ticket(uow, ticket_id)
    ticket.headers["ETag"] = etag(version)
    return ticket


@router.patch(
    "/{ticket_id}",
    response_model=TicketOut,
    responses=problem_docs({409: "A closed ticket is final: open a new one"}),
)
async def update_ticket(
    ticket_id: UUID,
    body: TicketPatch,
    principal: TicketsManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> TicketOut:
    """Change a ticket or its status (If-Match required). A closed ticket is final."""
    ticket = await service.update_ticket(
        uow, principal, ticket_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(ticket.version)
    return TicketOut.model_validate(ticket)


@router.delete("/{ticket_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_ticket(ticket_id: UUID, principal: TicketsManage, uow: UoW) -> Response:
    await service.delete_ticket(uow, principal, ticket_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
