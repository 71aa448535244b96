from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.idempotency import Idempotent
from keel.core.openapi import page_example
from keel.core.pagination import Page, PageQuery
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity import api_keys, repository
from keel.identity.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyOut

router = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=UnitOfWorkRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyIssued)
async def issue_api_key(
    body: ApiKeyCreate,
    principal: Annotated[Principal, allowed(Permission.API_KEYS_MANAGE)],
    _: Idempotent,
    uow: UoW,
) -> ApiKeyIssued:
    """Issue a new API key for the organisation. The secret is in this response only.

    A replay with the same Idempotency-Key returns the same key with `secret: null`.
    """
    key, secret = await api_keys.issue_api_key(uow, body.name, created_by=principal.actor)
    issued = ApiKeyOut.model_validate(key).model_dump()
    # A replay must not hand the secret out again, so it is never stored for one.
    uow.replay_body = ApiKeyIssued(**issued, secret=None).model_dump_json().encode()
    return ApiKeyIssued(**issued, secret=secret)


@router.get("", response_model=Page[ApiKeyOut], responses=page_example(ApiKeyOut))
async def list_api_keys(
    principal: Annotated[Principal, allowed(Permission.API_KEYS_READ)], uow: UoW, page: PageQuery
) -> Page[ApiKeyOut]:
    rows, next_cursor = await repository.list_api_keys(uow.session, page)
    return Page(items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.delete("/{key_id}", response_model=ApiKeyOut)
async def revoke_api_key(
    key_id: UUID, principal: Annotated[Principal, allowed(Permission.API_KEYS_MANAGE)], uow: UoW
) -> ApiKeyOut:
    """Revoke a key. Requests with it fail from the next one on."""
    return ApiKeyOut.model_validate(await api_keys.revoke_api_key(uow, key_id))
