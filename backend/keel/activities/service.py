"""Activities: notes, calls, e-mails, meetings and tasks on accounts, contacts, deals and tickets.
Owned by their author (a task's assignee does it) and readable by whoever sees a record they are on.
Bodies are limited HTML, sanitised before they are stored (keel.core.richtext)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from keel.access.ownership import changeable, keep_within_scope, owner_for, require_member
from keel.activities import repository
from keel.activities.schemas import ActivityCreate, ActivityFilter, ActivityPatch, Links
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, PageParams, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.models import Activity

_FIELDS = (
    "kind",
    "subject",
    "account_id",
    "contact_id",
    "deal_id",
    "ticket_id",
    "due_at",
    "done_at",
    "owner_id",
    "assignee_id",
)


def _snapshot(activity: Activity) -> dict[str, Any]:
    # The body's digest, not the body: the trail shows that a note changed without keeping every draft.
    values = snapshot(activity, _FIELDS)
    values["body_sha256"] = hashlib.sha256(activity.body.encode()).hexdigest()
    return values


async def _check_links(uow: UnitOfWork, links: Links) -> None:
    """Each record the activity is on must be one the caller can see."""
    for field in repository.TARGETS:
        target = getattr(links, field)
        if target is not None and not await repository.target_visible(uow.session, field, target):
            raise Problem(422, f"{field} is not a {field.removesuffix('_id')} you can see.")


async def create_activity(uow: UnitOfWork, principal: Principal, body: ActivityCreate) -> Activity:
    owner_id = owner_for(principal, body.owner_id, "activities")
    await require_member(uow, owner_id, "owner_id")
    assignee_id = body.assignee_id or (owner_id if body.kind == "task" else None)
    if assignee_id is not None:
        await require_member(uow, assignee_id, "assignee_id")
    keep_within_scope(principal, owner_id, assignee_id, "activities")
    await _check_links(uow, body)
    now = datetime.now(UTC)
    activity = Activity(
        org_id=uow.tenant,
        **body.model_dump(exclude={"owner_id", "assignee_id", "done", "occurred_at"}),
        occurred_at=body.occurred_at or now,
        done_at=now if body.done else None,
        owner_id=owner_id,
        assignee_id=assignee_id,
    )
    uow.session.add(activity)
    await uow.session.flush()
    await uow.session.refresh(activity)
    await record_event(
        uow, "activity.created", entity_type="activity", entity_id=activity.id, after=_snapshot(activity)
    )
    return activity


async def get_activity(uow: UnitOfWork, activity_id: UUID, *, for_update: bool = False) -> Activity:
    activity = await repository.activity_by_id(uow.session, activity_id, for_update=for_update)
    if activity is None:
        raise Problem(404, "No such activity.")
    return activity


async def update_activity(
    uow: UnitOfWork, principal: Principal, activity_id: UUID, patch: ActivityPatch, *, expected_version: int
) -> Activity:
    activity = await changeable(partial(get_activity, uow), principal, activity_id, "activities")
    if activity.version != expected_version:
        raise stale()
    changes = patch.model_dump(exclude_unset=True, exclude={"done"})
    if any(changes.get(field, "") is None for field in ("subject", "body", "occurred_at")):
        raise Problem(422, "subject, body and occurred_at cannot be removed.")
    if activity.kind != "task" and ({"due_at", "assignee_id"} & changes.keys() or patch.done is not None):
        raise Problem(422, "due_at, done and assignee_id are for tasks.")
    if changes.get("assignee_id") is not None:
        await require_member(uow, changes["assignee_id"], "assignee_id")
    before = _snapshot(activity)
    for field, value in changes.items():
        setattr(activity, field, value)
    if patch.done is not None and patch.done != (activity.done_at is not None):
        activity.done_at = datetime.now(UTC) if patch.done else None
    keep_within_scope(principal, activity.owner_id, activity.assignee_id, "activities")
    old, new = changed_fields(before, _snapshot(activity))
    if new:
        activity.version += 1
        activity.updated_at = datetime.now(UTC)
        await record_event(
            uow, "activity.updated", entity_type="activity", entity_id=activity.id, before=old, after=new
        )
    return activity


async def delete_activity(uow: UnitOfWork, principal: Principal, activity_id: UUID) -> None:
    activity = await changeable(partial(get_activity, uow), principal, activity_id, "activities")
    await uow.session.delete(activity)
    await record_event(
        uow, "activity.deleted", entity_type="activity", entity_id=activity_id, before=_snapshot(activity)
    )


SORTS = repository.SORTS  # where the list endpoint reads it


async def list_activities(uow: UnitOfWork, params: PageParams, where: ActivityFilter, sort: Sort) -> JsonPage:
    query = repository.activities_matching(where)
    return await repository.page_of_activities(uow.session, query, sort, params)


async def read_activity(uow: UnitOfWork, activity_id: UUID) -> tuple[JsonBody, int]:
    """The activity as the JSON the API sends, and its version; 404 as `get_activity`."""
    found = await repository.activity_json(uow.session, activity_id)
    if found is None:
        raise Problem(404, "No such activity.")
    return found
