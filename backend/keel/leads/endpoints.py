from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.audit.exports import audited_export
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.json_reads import JsonBody
from keel.core.openapi import AUDITED_READ, EXPORT_LIMIT, page_example
from keel.core.pagination import JsonPage, Page, PageQuery, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.customfields.schemas import custom_query
from keel.leads import flows, service
from keel.leads.schemas import (
    ConversionOut,
    LeadConversion,
    LeadCreate,
    LeadFilter,
    LeadOut,
    LeadPatch,
    Status,
)

LeadsRead = Annotated[Principal, allowed(Permission.LEADS_READ)]
LeadsManage = Annotated[Principal, allowed(Permission.LEADS_MANAGE)]

router = APIRouter(prefix="/leads", tags=["leads"], route_class=UnitOfWorkRoute)


async def lead_filter(
    owner_id: UUID | None = None,
    status: Status | None = None,
    source: Annotated[str | None, Query(max_length=50)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    custom: Annotated[dict[str, str], Depends(custom_query)] = {},  # noqa: B006 (FastAPI fills it)
) -> LeadFilter:
    return LeadFilter(owner_id=owner_id, status=status, source=source, tag=tag, email=email, custom=custom)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LeadOut, responses=sends_etag(201))
async def create_lead(
    body: LeadCreate, principal: LeadsManage, _: Idempotent, uow: UoW, response: Response
) -> LeadOut:
    """Record interest: at least a last name, a company or an e-mail address."""
    lead = await service.create_lead(uow, principal, body)
    response.headers["ETag"] = etag(lead.version)
    return LeadOut.model_validate(lead)


@router.get("", response_model=Page[LeadOut], responses=page_example(LeadOut))
async def list_leads(
    principal: LeadsRead,
    uow: UoW,
    page: PageQuery,
    where: Annotated[LeadFilter, Depends(lead_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> JsonPage:
    """The leads the caller may see (their role's record scope), filtered, newest first unless sorted
    otherwise; custom fields filter as `cf.<key>=<value>`."""
    return await service.list_leads(uow, page, where, sort)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The leads, streamed"},
        **problem_docs(AUDITED_READ, EXPORT_LIMIT),
    },
)
async def export_leads(
    request: Request,
    principal: LeadsRead,
    uow: UoW,
    where: Annotated[LeadFilter, Depends(lead_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> StreamingResponse:
    """The leads the list shows (same filters, scope and order) as CSV, formula-safe. Audited."""
    return await audited_export(
        request,
        uow,
        principal,
        name="leads",
        entity_type="lead",
        where=where,
        statement=(await service.filtered_leads(uow, where)).order_by(*sort.order_by()),
        columns=service.EXPORT_COLUMNS,
        shape=service.export_row,
    )


@router.get("/{lead_id}", response_model=LeadOut, responses=sends_etag())
async def get_lead(lead_id: UUID, principal: LeadsRead, uow: UoW) -> JsonBody:
    lead, version = await service.read_lead(uow, lead_id)
    lead.headers["ETag"] = etag(version)
    return lead


@router.patch(
    "/{lead_id}",
    response_model=LeadOut,
    responses=problem_docs({409: "A converted lead is final: change its account, contact or deal"}),
)
async def update_lead(
    lead_id: UUID,
    body: LeadPatch,
    principal: LeadsManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> LeadOut:
    """Change a lead (If-Match required); disqualifying one needs a reason. A converted lead is final."""
    lead = await service.update_lead(
        uow, principal, lead_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(lead.version)
    return LeadOut.model_validate(lead)


@router.post(
    "/{lead_id}/conversion",
    response_model=ConversionOut,
    responses={
        201: {"model": ConversionOut, "description": "Converted now"},
        **problem_docs({409: "The lead is disqualified: requalify it first"}),
    },
)
async def convert_lead(
    lead_id: UUID, principal: LeadsManage, uow: UoW, response: Response, body: LeadConversion | None = None
) -> ConversionOut:
    """Turn the lead into an account (or join `account_id`), a contact and a deal, all at once, owned by
    the lead's owner. 201 when converted now; converting again answers 200 with the same records."""
    converted, now = await flows.convert_lead(uow, principal, lead_id, body or LeadConversion())
    response.status_code = status.HTTP_201_CREATED if now else status.HTTP_200_OK
    return converted


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lead(lead_id: UUID, principal: LeadsManage, uow: UoW) -> Response:
    await service.delete_lead(uow, lead_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
