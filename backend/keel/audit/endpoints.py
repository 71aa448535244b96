from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.audit import repository
from keel.audit.schemas import AuditEventOut
from keel.core.pagination import Page, PageQuery
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity.service import Principal

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=UnitOfWorkRoute)


@router.get("", response_model=Page[AuditEventOut])
async def list_audit_events(
    principal: Annotated[Principal, allowed(Permission.AUDIT_READ)],
    uow: UoW,
    page: PageQuery,
    action: Annotated[str | None, Query(max_length=100)] = None,
    entity_type: Annotated[str | None, Query(max_length=50)] = None,
) -> Page[AuditEventOut]:
    """The organisation's audit trail, newest first."""
    rows, next_cursor = await repository.list_events(
        uow.session, page, action=action, entity_type=entity_type
    )
    return Page(items=[AuditEventOut.model_validate(r) for r in rows], next_cursor=next_cursor)
