"""Typed dependencies for who is calling: `CurrentPrincipal`, and `Idempotent` for creating POSTs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from keel.core.errors import Problem
from keel.core.idempotency import claim_idempotency_key
from keel.core.ratelimit import get_rate_limiter
from keel.core.uow import UoW
from keel.identity.service import Principal, authenticate

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="keel"'}


async def current_principal(request: Request, uow: UoW) -> Principal:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise Problem(401, "Send an API key as `Authorization: Bearer keel_sk_…`.", headers=_CHALLENGE)
    principal = await authenticate(uow, credentials.strip())
    if principal is None:
        raise Problem(401, "The API key is not valid or was revoked.", headers=_CHALLENGE)
    await get_rate_limiter().hit(f"org:{principal.org_id}")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def idempotent(
    request: Request,
    principal: CurrentPrincipal,
    uow: UoW,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retry safely: the same key and body replay the first response for 24 h.",
        ),
    ] = None,
) -> None:
    await claim_idempotency_key(request, uow)


Idempotent = Annotated[None, Depends(idempotent)]
