from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.activities import flows, service
from keel.activities.schemas import ActivityCreate, ActivityFilter, ActivityOut, ActivityPatch, Kind
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, Page, PageQuery, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW

ActivitiesRead = Annotated[Principal, allowed(Permission.ACTIVITIES_READ)]
ActivitiesManage = Annotated[Principal, allowed(Permission.ACTIVITIES_MANAGE)]

router = APIRouter(prefix="/activities", tags=["activities"], route_class=UnitOfWorkRoute)


async def activity_filter(
    account_id: UUID | None = None,
    contact_id: UUID | None = None,
    deal_id: UUID | None = None,
    ticket_id: UUID | None = None,
    kind: Kind | None = None,
    assignee_id: UUID | None = None,
    open_tasks: Annotated[bool, Query(description="Only tasks not yet done")] = False,
    due_before: Annotated[AwareDatetime | None, Query(description="Tasks due before this time")] = None,
) -> ActivityFilter:
    return ActivityFilter(
        account_id=account_id,
        contact_id=contact_id,
        deal_id=deal_id,
        ticket_id=ticket_id,
        kind=kind,
        assignee_id=assignee_id,
        open_tasks=open_tasks,
        due_before=due_before,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ActivityOut, responses=sends_etag(201))
async def create_activity(
    body: ActivityCreate, principal: ActivitiesManage, _: Idempotent, uow: UoW, response: Response
) -> ActivityOut:
    """Log a note, call, e-mail or meeting, or set a task, on records you can see. The body is limited
    HTML and is sanitised: scripts, styles and event handlers are removed."""
    activity = await flows.log_activity(uow, principal, body)
    response.headers["ETag"] = etag(activity.version)
    return ActivityOut.model_validate(activity)


@router.get("", response_model=Page[ActivityOut])
async def list_activities(
    principal: ActivitiesRead,
    uow: UoW,
    page: PageQuery,
    where: Annotated[ActivityFilter, Depends(activity_filter)],
    sort: Annotated[Sort, Depends(service.SORTS)],
) -> JsonPage:
    """The activities the caller may see (their own and those on records they see), newest first
    unless sorted otherwise (open tasks by `due_at`, say; those without one count as the latest)."""
    return await service.list_activities(uow, page, where, sort)


@router.get("/{activity_id}", response_model=ActivityOut, responses=sends_etag())
async def get_activity(activity_id: UUID, principal: ActivitiesRead, uow: UoW) -> JsonBody:
    activity, version = await service.read_activity(uow, activity_id)
    activity.headers["ETag"] = etag(version)
    return activity


@router.patch("/{activity_id}", response_model=ActivityOut)
async def update_activity(
    activity_id: UUID,
    body: ActivityPatch,
    principal: ActivitiesManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> ActivityOut:
    """Change an activity, or mark a task done (If-Match required). Only within your record scope."""
    activity = await service.update_activity(
        uow, principal, activity_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(activity.version)
    return ActivityOut.model_validate(activity)


@router.delete("/{activity_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_activity(activity_id: UUID, principal: ActivitiesManage, uow: UoW) -> Response:
    await service.delete_activity(uow, principal, activity_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
