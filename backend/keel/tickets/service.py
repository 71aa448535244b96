"""Tickets: customers' support requests. Owned records (the assignee is the agent working them), also
readable by whoever sees the ticket's account. First-response and resolution times are kept for the
support reports."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from keel.access.ownership import changeable, keep_within_scope, owner_for, require_member
from keel.accounts.repository import account_visible
from keel.contacts.repository import contact_visible, is_contact_of_account
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, PageParams, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.models import Ticket
from keel.tickets import repository
from keel.tickets.schemas import Priority, TicketCreate, TicketPatch, TicketStatus

_FIELDS = (
    "subject",
    "description",
    "account_id",
    "contact_id",
    "status",
    "priority",
    "owner_id",
    "assignee_id",
    "tags",
)


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    return snapshot(ticket, _FIELDS)


async def _check_links(uow: UnitOfWork, account_id: UUID | None, contact_id: UUID | None) -> None:
    if account_id is not None and not await account_visible(uow.session, account_id):
        raise Problem(422, "account_id is not an account you can see.")
    if contact_id is None:
        return
    if not await contact_visible(uow.session, contact_id):
        raise Problem(422, "contact_id is not a contact you can see.")
    if account_id is not None and not await is_contact_of_account(uow.session, contact_id, account_id):
        raise Problem(422, "contact_id must be a contact of the ticket's account.")


async def create_ticket(uow: UnitOfWork, principal: Principal, body: TicketCreate) -> Ticket:
    owner_id = owner_for(principal, body.owner_id, "tickets")
    await require_member(uow, owner_id, "owner_id")
    if body.assignee_id is not None:
        await require_member(uow, body.assignee_id, "assignee_id")
    keep_within_scope(principal, owner_id, body.assignee_id, "tickets")
    await _check_links(uow, body.account_id, body.contact_id)
    ticket = Ticket(
        org_id=uow.tenant,
        **body.model_dump(exclude={"owner_id", "tags"}),
        owner_id=owner_id,
        tags=sorted(set(body.tags)),
    )
    uow.session.add(ticket)
    await uow.session.flush()
    await uow.session.refresh(ticket)
    await record_event(
        uow, "ticket.created", entity_type="ticket", entity_id=ticket.id, after=_snapshot(ticket)
    )
    return ticket


async def get_ticket(uow: UnitOfWork, ticket_id: UUID, *, for_update: bool = False) -> Ticket:
    # Another organisation's ticket, or one the caller cannot see, is simply not there: 404.
    ticket = await repository.ticket_by_id(uow.session, ticket_id, for_update=for_update)
    if ticket is None:
        raise Problem(404, "No such ticket.")
    return ticket


def _move(ticket: Ticket, status: str, now: datetime) -> None:
    """Status and the times the support reports read: first response when it first leaves open,
    resolution when solved (cleared when reopened), closing once."""
    ticket.status = status
    if status != "open" and ticket.first_response_at is None:
        ticket.first_response_at = now
    if status == "solved":
        ticket.resolved_at = now
    elif status == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    else:
        ticket.resolved_at = None


async def update_ticket(
    uow: UnitOfWork, principal: Principal, ticket_id: UUID, patch: TicketPatch, *, expected_version: int
) -> Ticket:
    ticket = await changeable(partial(get_ticket, uow), principal, ticket_id, "tickets")
    if ticket.version != expected_version:
        raise stale()
    changes = patch.model_dump(exclude_unset=True, exclude={"status"})
    if any(changes.get(field, "") is None for field in ("subject", "description", "owner_id", "priority")):
        raise Problem(422, "subject, description, owner_id and priority cannot be removed.")
    if ticket.status == "closed" and (changes or patch.status not in (None, "closed")):
        raise Problem(409, "A closed ticket stays closed: open a new one.")
    for field in ("owner_id", "assignee_id"):
        if changes.get(field) is not None:
            await require_member(uow, changes[field], field)
    before = _snapshot(ticket)
    for field, value in changes.items():
        setattr(ticket, field, sorted(set(value or [])) if field == "tags" else value)
    keep_within_scope(principal, ticket.owner_id, ticket.assignee_id, "tickets")
    if {"account_id", "contact_id"} & changes.keys():
        await _check_links(uow, ticket.account_id, ticket.contact_id)
    now = datetime.now(UTC)
    if patch.status is not None and patch.status != ticket.status:
        _move(ticket, patch.status, now)
    old, new = changed_fields(before, _snapshot(ticket))
    if new:
        ticket.version += 1
        ticket.updated_at = now
        await record_event(
            uow, "ticket.updated", entity_type="ticket", entity_id=ticket.id, before=old, after=new
        )
    return ticket


async def mark_responded(uow: UnitOfWork, ticket_id: UUID, at: datetime) -> None:
    """A call, e-mail or meeting logged on a ticket is its first response if none came before. Whoever
    logs it may see the ticket without being allowed to change it (a rep, through the account)."""
    async with uow.whole_organisation():
        ticket = await get_ticket(uow, ticket_id, for_update=True)
        if ticket.first_response_at is None:
            ticket.first_response_at = at
            ticket.version += 1
            await record_event(
                uow,
                "ticket.first_response",
                entity_type="ticket",
                entity_id=ticket.id,
                after={"first_response_at": at.isoformat()},
            )


async def delete_ticket(uow: UnitOfWork, principal: Principal, ticket_id: UUID) -> None:
    ticket = await changeable(partial(get_ticket, uow), principal, ticket_id, "tickets")
    await uow.session.delete(ticket)
    await record_event(
        uow, "ticket.deleted", entity_type="ticket", entity_id=ticket_id, before=_snapshot(ticket)
    )


SORTS = repository.SORTS  # where the list endpoint reads it


async def list_tickets(
    uow: UnitOfWork,
    params: PageParams,
    sort: Sort,
    *,
    status: TicketStatus | None = None,
    priority: Priority | None = None,
    assignee_id: UUID | None = None,
    account_id: UUID | None = None,
) -> JsonPage:
    query = repository.tickets_matching(status, priority, assignee_id, account_id)
    return await repository.page_of_tickets(uow.session, query, sort, params)


async def read_ticket(uow: UnitOfWork, ticket_id: UUID) -> tuple[JsonBody, int]:
    """The ticket as the JSON the API sends, and its version; 404 as `get_ticket`."""
    found = await repository.ticket_json(uow.session, ticket_id)
    if found is None:
        raise Problem(404, "No such ticket.")
    return found
