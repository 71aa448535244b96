"""Saved views: a member's named list filters for one record type, kept private or shared with the
organisation. The database keeps each member to their own views and the shared ones, and lets only the
member who saved a view change it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.models import SavedView
from keel.views import repository
from keel.views.schemas import ViewCreate, ViewPatch, check_filters

MAX_VIEWS = 100  # per member


def _member(principal: Principal) -> UUID:
    if principal.user_id is None:
        raise Problem(403, "Saved views belong to members: an API key has none.")
    return principal.user_id


def _snapshot(view: SavedView) -> dict[str, Any]:
    return snapshot(view, ("name", "record_type", "filters", "shared"))


async def create_view(uow: UnitOfWork, principal: Principal, body: ViewCreate) -> SavedView:
    user_id = _member(principal)
    names = await repository.view_names_of(uow.session, user_id)
    if len(names) >= MAX_VIEWS:
        raise Problem(409, f"A member can save at most {MAX_VIEWS} views.")
    if body.name in names:
        raise Problem(409, f"You already have a view named {body.name!r}.")
    view = SavedView(org_id=uow.tenant, user_id=user_id, **body.model_dump())
    uow.session.add(view)
    await uow.session.flush()
    await uow.session.refresh(view)
    await record_event(
        uow, "saved_view.created", entity_type="saved_view", entity_id=view.id, after=_snapshot(view)
    )
    return view


async def list_views(uow: UnitOfWork, principal: Principal, record_type: str | None) -> list[SavedView]:
    """The caller's views and the shared ones (row-level security holds it), theirs first."""
    return await repository.views_for(uow.session, principal.user_id, record_type)


async def get_view(uow: UnitOfWork, view_id: UUID) -> SavedView:
    view = await repository.view_by_id(uow.session, view_id)
    if view is None:
        raise Problem(404, "No such view.")
    return view


async def _own_view(uow: UnitOfWork, principal: Principal, view_id: UUID) -> SavedView:
    view = await get_view(uow, view_id)
    if view.user_id != _member(principal):
        raise Problem(403, "Only the member who saved a view can change it.")
    return view


async def update_view(
    uow: UnitOfWork, principal: Principal, view_id: UUID, patch: ViewPatch, *, expected_version: int
) -> SavedView:
    view = await _own_view(uow, principal, view_id)
    if view.version != expected_version:
        raise stale()
    changes = patch.model_dump(exclude_unset=True)
    if any(changes.get(field, "") is None for field in ("name", "filters", "shared")):
        raise Problem(422, "name, filters and shared cannot be removed.")
    if "filters" in changes:
        try:
            check_filters(view.record_type, changes["filters"])
        except ValueError as exc:
            raise Problem(422, str(exc)) from exc
    renamed = changes.get("name", view.name) != view.name
    if renamed and await repository.member_has_view_named(uow.session, view.user_id, changes["name"]):
        raise Problem(409, f"You already have a view named {changes['name']!r}.")
    before = _snapshot(view)
    for field, value in changes.items():
        setattr(view, field, value)
    old, new = changed_fields(before, _snapshot(view))
    if new:
        view.version += 1
        await record_event(
            uow, "saved_view.updated", entity_type="saved_view", entity_id=view.id, before=old, after=new
        )
    return view


async def delete_view(uow: UnitOfWork, principal: Principal, view_id: UUID) -> None:
    view = await _own_view(uow, principal, view_id)
    await uow.session.delete(view)
    await record_event(
        uow, "saved_view.deleted", entity_type="saved_view", entity_id=view_id, before=_snapshot(view)
    )
