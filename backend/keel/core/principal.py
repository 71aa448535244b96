"""Who is calling: the `Principal` every route and service acts for, and `CurrentPrincipal`, the
dependency that authenticates a request.

How a request is authenticated (API keys, access tokens, DPoP, the organisation's network and rate
limits) is the identity domain's business. The composition root installs it with
`install_authenticator`, so that routes of every layer depend on this module, not on identity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Request

from keel.core.uow import UnitOfWork, get_unit_of_work


@dataclass(frozen=True)
class Principal:
    """Who is calling, in which organisation: a user (through an OAuth client) or an API key."""

    org_id: UUID
    actor: str  # "user:<id>" or "api_key:<id>": what the audit trail records
    user_id: UUID | None = None
    client_id: str | None = None
    roles: tuple[str, ...] = ()
    scope: str = ""  # the OAuth scope of the token
    # What the caller may do (keel.access.permissions.Permission values) and which owned records they
    # see (keel.access.roles), set per request.
    permissions: frozenset[str] = frozenset()
    record_scope: str = "own"


Authenticator = Callable[[Request, UnitOfWork], Awaitable[Principal]]


def install_authenticator(app: FastAPI, authenticate: Authenticator) -> None:
    app.state.authenticate = authenticate


async def current_principal(request: Request) -> Principal:
    """The request's caller, authenticated once however many dependencies ask."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is None:
        authenticate: Authenticator = request.app.state.authenticate
        known = await authenticate(request, await get_unit_of_work(request))
        request.state.principal = known
    return known


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
