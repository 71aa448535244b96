from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.accounts.schemas import MergeRequest
from keel.audit.exports import audited_export
from keel.contacts import service
from keel.contacts.flows import merge_contacts as merge_contacts_into
from keel.contacts.schemas import ContactCreate, ContactFilter, ContactOut, ContactPatch
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.json_reads import JsonBody
from keel.core.openapi import AUDITED_READ, EXPORT_LIMIT, page_example
from keel.core.pagination import JsonPage, Page, PageQuery, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.customfields.schemas import custom_query

ContactsRead = Annotated[Principal, allowed(Permission.CONTACTS_READ)]
ContactsManage = Annotated[Principal, allowed(Permission.CONTACTS_MANAGE)]

router = APIRouter(prefix="/contacts", tags=["contacts"], route_class=UnitOfWorkRoute)


async def contact_filter(
    owner_id: UUID | None = None,
    account_id: UUID | None = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    custom: Annotated[dict[str, str], Depends(custom_query)] = {},  # noqa: B006 (FastAPI fills it)
) -> ContactFilter:
    return ContactFilter(owner_id=owner_id, account_id=account_id, email=email, tag=tag, custom=custom)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ContactOut, responses=sends_etag(201))
async def create_contact(
    body: ContactCreate, principal: ContactsManage, _: Idempotent, uow: UoW, response: Response
) -> ContactOut:
    """Add a person, optionally linked to accounts you can see (one of them primary)."""
    contact = await service.create_contact(uow, principal, body)
    response.headers["ETag"] = etag(contact.version)
    return contact


@router.get("", response_model=Page[ContactOut], responses=page_example(ContactOut))
async def list_contacts(
    principal: ContactsRead,
    uow: UoW,
    page: PageQuery,
    where: Annotated[ContactFilter, Depends(contact_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> JsonPage:
    """The contacts the caller may see (their role's record scope), filtered, newest first unless
    sorted otherwise; custom fields filter as `cf.<key>=<value>`."""
    return await service.list_contacts(uow, page, where, sort)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The contacts, streamed"},
        **problem_docs(AUDITED_READ, EXPORT_LIMIT),
    },
)
async def export_contacts(
    request: Request,
    principal: ContactsRead,
    uow: UoW,
    where: Annotated[ContactFilter, Depends(contact_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> StreamingResponse:
    """The contacts the list shows (same filters, scope and order) as CSV, formula-safe, each with its
    primary account. Audited."""
    return await audited_export(
        request,
        uow,
        principal,
        name="contacts",
        entity_type="contact",
        where=where,
        statement=service.exported((await service.filtered_contacts(uow, where)).order_by(*sort.order_by())),
        columns=service.EXPORT_COLUMNS,
        shape=service.export_row,
    )


@router.get("/{contact_id}", response_model=ContactOut, responses=sends_etag())
async def get_contact(contact_id: UUID, principal: ContactsRead, uow: UoW) -> JsonBody:
    contact, version = await service.get_contact(uow, contact_id)
    contact.headers["ETag"] = etag(version)
    return contact


@router.patch("/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: UUID,
    body: ContactPatch,
    principal: ContactsManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ContactOut:
    """Change a contact (If-Match required). `account_ids` replaces the contact's accounts."""
    contact = await service.update_contact(
        uow, principal, contact_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(contact.version)
    return contact


@router.post("/{contact_id}/merge", response_model=ContactOut, responses=sends_etag())
async def merge_contacts(
    contact_id: UUID, body: MergeRequest, principal: ContactsManage, uow: UoW
) -> JsonBody:
    """Merge `duplicate_id` into this contact: its accounts, deals, tickets, activities and leads move
    here, empty fields take its values, tags and custom values unite; then it is deleted. Audited."""
    await merge_contacts_into(uow, principal, contact_id, body.duplicate_id)
    contact, version = await service.get_contact(uow, contact_id)
    contact.headers["ETag"] = etag(version)
    return contact


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(contact_id: UUID, principal: ContactsManage, uow: UoW) -> Response:
    await service.delete_contact(uow, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
