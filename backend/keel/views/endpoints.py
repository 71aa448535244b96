from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.views import service
from keel.views.schemas import RecordType, ViewCreate, ViewOut, ViewPatch

ViewsUser = Annotated[Principal, allowed(Permission.SAVED_VIEWS_USE)]

router = APIRouter(prefix="/saved-views", tags=["saved views"], route_class=UnitOfWorkRoute)


@router.get("", response_model=list[ViewOut])
async def list_views(principal: ViewsUser, uow: UoW, record_type: RecordType | None = None) -> list[ViewOut]:
    """Your views, then those shared in the organisation. `path` is the list request each stands for."""
    return [ViewOut.model_validate(v) for v in await service.list_views(uow, principal, record_type)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ViewOut,
    responses={
        **sends_etag(201),
        **problem_docs({409: "You already have a view with this name, or your maximum of views"}),
    },
)
async def create_view(
    body: ViewCreate, principal: ViewsUser, _: Idempotent, uow: UoW, response: Response
) -> ViewOut:
    """Save list filters under a name; `shared: true` shows the view to everyone in the organisation
    (each still sees only the records their role allows)."""
    view = await service.create_view(uow, principal, body)
    response.headers["ETag"] = etag(view.version)
    return ViewOut.model_validate(view)


@router.get("/{view_id}", response_model=ViewOut, responses=sends_etag())
async def get_view(view_id: UUID, principal: ViewsUser, uow: UoW, response: Response) -> ViewOut:
    view = await service.get_view(uow, view_id)
    response.headers["ETag"] = etag(view.version)
    return ViewOut.model_validate(view)


@router.patch(
    "/{view_id}",
    response_model=ViewOut,
    responses=problem_docs({409: "You already have a view with this name"}),
)
async def update_view(
    view_id: UUID,
    body: ViewPatch,
    principal: ViewsUser,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ViewOut:
    """Rename, refilter, share or unshare your view (If-Match required)."""
    view = await service.update_view(
        uow, principal, view_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(view.version)
    return ViewOut.model_validate(view)


@router.delete("/{view_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_view(view_id: UUID, principal: ViewsUser, uow: UoW) -> Response:
    await service.delete_view(uow, principal, view_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
