"""Public discovery documents of the authorization server (no authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity.signing_keys import published_jwks

router = APIRouter(prefix="/.well-known", tags=["authorization server"], route_class=UnitOfWorkRoute)


@router.get("/jwks.json")
async def get_jwks(uow: UoW, response: Response) -> dict[str, Any]:
    """The public keys access tokens are signed with (RFC 7517). Cached briefly: keys rotate with overlap."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return await published_jwks(uow.session)
