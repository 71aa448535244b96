from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.accounts import flows, service
from keel.accounts.schemas import (
    AccountCreate,
    AccountFilter,
    AccountOut,
    AccountPatch,
    Lifecycle,
    MergeRequest,
)
from keel.accounts.summary import AccountSummary, account_summary
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

AccountsRead = Annotated[Principal, allowed(Permission.ACCOUNTS_READ)]
AccountsManage = Annotated[Principal, allowed(Permission.ACCOUNTS_MANAGE)]

router = APIRouter(prefix="/accounts", tags=["accounts"], route_class=UnitOfWorkRoute)


async def account_filter(
    owner_id: UUID | None = None,
    lifecycle_stage: Lifecycle | None = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    domain: Annotated[str | None, Query(max_length=253)] = None,
    custom: Annotated[dict[str, str], Depends(custom_query)] = {},  # noqa: B006 (FastAPI fills it)
) -> AccountFilter:
    return AccountFilter(
        owner_id=owner_id, lifecycle_stage=lifecycle_stage, tag=tag, domain=domain, custom=custom
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AccountOut, responses=sends_etag(201))
async def create_account(
    body: AccountCreate, principal: AccountsManage, _: Idempotent, uow: UoW, response: Response
) -> AccountOut:
    """Add an account. It belongs to the caller unless `owner_id` names another member (which a Sales Rep
    may do only when they are its assignee)."""
    account = await service.create_account(uow, principal, body)
    response.headers["ETag"] = etag(account.version)
    return AccountOut.model_validate(account)


@router.get("", response_model=Page[AccountOut], responses=page_example(AccountOut))
async def list_accounts(
    principal: AccountsRead,
    uow: UoW,
    page: PageQuery,
    where: Annotated[AccountFilter, Depends(account_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> JsonPage:
    """The accounts the caller may see (their role's record scope), filtered, newest first unless
    sorted otherwise; custom fields filter as `cf.<key>=<value>`."""
    return await service.list_accounts(uow, page, where, sort)


EXPORT_COLUMNS = [
    "id", "name", "domain", "industry", "size", "country", "lifecycle_stage", "owner_id", "assignee_id",
    "tags", "custom", "external_id", "created_at", "updated_at",
]  # fmt: skip


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The accounts, streamed"},
        **problem_docs(AUDITED_READ, EXPORT_LIMIT),
    },
)
async def export_accounts(
    request: Request,
    principal: AccountsRead,
    uow: UoW,
    where: Annotated[AccountFilter, Depends(account_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> StreamingResponse:
    """The accounts the list shows (same filters, scope and order) as CSV, formula-safe. Audited."""
    return await audited_export(
        request,
        uow,
        principal,
        name="accounts",
        entity_type="account",
        where=where,
        statement=(await service.filtered_accounts(uow, where)).order_by(*sort.order_by()),
        columns=EXPORT_COLUMNS,
        shape=lambda account: {c: getattr(account, c) for c in EXPORT_COLUMNS},
    )


@router.get("/{account_id}", response_model=AccountOut, responses=sends_etag())
async def get_account(account_id: UUID, principal: AccountsRead, uow: UoW) -> JsonBody:
    account, version = await service.read_account(uow, account_id)
    account.headers["ETag"] = etag(version)
    return account


@router.get("/{account_id}/summary", response_model=AccountSummary)
async def get_account_summary(account_id: UUID, principal: AccountsRead, uow: UoW) -> JsonBody:
    """Open deals and their value, the last activity and open tickets: what the caller sees of them.
    Cached; never older than the last committed change (`Cache-Status` says whether it was a hit)."""
    summary, hit = await account_summary(uow, principal, account_id)
    summary.headers["Cache-Status"] = "keel; hit" if hit else "keel; fwd=miss; stored"
    return summary


@router.patch("/{account_id}", response_model=AccountOut)
async def update_account(
    account_id: UUID,
    body: AccountPatch,
    principal: AccountsManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> AccountOut:
    """Change an account (If-Match required). Handing it to a member outside your scope is refused."""
    account = await service.update_account(
        uow, principal, account_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(account.version)
    return AccountOut.model_validate(account)


@router.post("/{account_id}/merge", response_model=AccountOut, responses=sends_etag())
async def merge_accounts(
    account_id: UUID, body: MergeRequest, principal: AccountsManage, uow: UoW
) -> JsonBody:
    """Merge `duplicate_id` into this account: its contacts, deals, tickets, activities and leads move
    here, empty fields take its values, tags and custom values unite; then it is deleted. Audited."""
    await flows.merge_accounts(uow, principal, account_id, body.duplicate_id)
    account, version = await service.read_account(uow, account_id)
    account.headers["ETag"] = etag(version)
    return account


@router.delete(
    "/{account_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_docs({409: "The account still has deals: delete or move them first"}),
)
async def delete_account(account_id: UUID, principal: AccountsManage, uow: UoW) -> Response:
    await service.delete_account(uow, account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
