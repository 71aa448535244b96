from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.audit.exports import audited_export
from keel.core.errors import Problem, problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.json_reads import JsonBody
from keel.core.openapi import AUDITED_READ, EXPORT_LIMIT, answers, page_example
from keel.core.pagination import JsonPage, Page, PageQuery, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.customfields.schemas import custom_query
from keel.deals import flows, service
from keel.deals.schemas import DealCreate, DealFilter, DealOut, DealPatch, Outcome, StageChangeOut

DealsRead = Annotated[Principal, allowed(Permission.DEALS_READ)]
DealsManage = Annotated[Principal, allowed(Permission.DEALS_MANAGE)]

router = APIRouter(prefix="/deals", tags=["deals"], route_class=UnitOfWorkRoute)


@answers({400: "close_from is after close_to"})
async def deal_filter(
    owner_id: UUID | None = None,
    account_id: UUID | None = None,
    pipeline_id: UUID | None = None,
    stage_id: UUID | None = None,
    status: Annotated[Outcome | None, Query(description="The outcome of the deal's stage")] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    close_from: Annotated[date | None, Query(description="Expected close on or after")] = None,
    close_to: Annotated[date | None, Query(description="Expected close on or before")] = None,
    custom: Annotated[dict[str, str], Depends(custom_query)] = {},  # noqa: B006 (FastAPI fills it)
) -> DealFilter:
    if close_from and close_to and close_from > close_to:
        raise Problem(400, "close_from is after close_to.", title="Invalid date range")
    return DealFilter(
        owner_id=owner_id,
        account_id=account_id,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        status=status,
        tag=tag,
        close_from=close_from,
        close_to=close_to,
        custom=custom,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DealOut, responses=sends_etag(201))
async def create_deal(
    body: DealCreate, principal: DealsManage, _: Idempotent, uow: UoW, response: Response
) -> DealOut:
    """Open a deal for an account you can see. Without a stage it starts at the first open stage of its
    pipeline (the default pipeline unless named); created at a won stage, its account becomes a customer."""
    deal = await flows.create_deal(uow, principal, body)
    response.headers["ETag"] = etag(deal.version)
    return deal


@router.get("", response_model=Page[DealOut], responses=page_example(DealOut))
async def list_deals(
    principal: DealsRead,
    uow: UoW,
    page: PageQuery,
    where: Annotated[DealFilter, Depends(deal_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> JsonPage:
    """The deals the caller may see (their role's record scope), filtered, newest first unless sorted
    otherwise (by close date, a deal without one counts as the latest); custom fields filter as
    `cf.<key>=<value>`."""
    return await service.list_deals(uow, principal, page, where, sort)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The deals, streamed"},
        **problem_docs(AUDITED_READ, EXPORT_LIMIT),
    },
)
async def export_deals(
    request: Request,
    principal: DealsRead,
    uow: UoW,
    where: Annotated[DealFilter, Depends(deal_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> StreamingResponse:
    """The deals the list shows (same filters, scope and order) as CSV, formula-safe; amounts only for those
    who see them. Audited."""
    return await audited_export(
        request,
        uow,
        principal,
        name="deals",
        entity_type="deal",
        where=where,
        statement=(await service.filtered_deals(uow, where)).order_by(*sort.order_by()),
        columns=service.EXPORT_COLUMNS,
        shape=service.export_row(principal),
    )


@router.get("/{deal_id}", response_model=DealOut, responses=sends_etag())
async def get_deal(deal_id: UUID, principal: DealsRead, uow: UoW) -> JsonBody:
    deal, version = await service.read_deal(uow, principal, deal_id)
    deal.headers["ETag"] = etag(version)
    return deal


@router.get("/{deal_id}/stage-changes", response_model=list[StageChangeOut])
async def deal_stage_history(deal_id: UUID, principal: DealsRead, uow: UoW) -> list[StageChangeOut]:
    """Every stage the deal entered, oldest first (the first has no `from_stage_id`)."""
    return await service.stage_history(uow, deal_id)


@router.patch("/{deal_id}", response_model=DealOut)
async def update_deal(
    deal_id: UUID,
    body: DealPatch,
    principal: DealsManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> DealOut:
    """Change or move a deal (If-Match required). A lost stage needs `lost_reason`; a won stage makes the
    deal's account a customer."""
    deal = await flows.update_deal(uow, principal, deal_id, body, expected_version=required_version(if_match))
    response.headers["ETag"] = etag(deal.version)
    return deal


@router.delete("/{deal_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_deal(deal_id: UUID, principal: DealsManage, uow: UoW) -> Response:
    await service.delete_deal(uow, deal_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
