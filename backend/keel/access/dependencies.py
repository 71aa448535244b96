"""One dependency declares and checks the permission of every API route: `allowed(Permission.X)`.

The permissions come from the caller's roles in the token, resolved through the organisation's cached
role table (or the API key's fixed set) when the caller was authenticated; checking them reads no
database. A test walks every `/api/v1` route and fails on one without exactly one of these.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from keel.access.permissions import Permission
from keel.core.errors import Problem
from keel.core.principal import Principal, current_principal


class Authorization:
    """The dependency object; `permission` is what the route-walking test reads."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        # Authenticates by itself rather than through a dependency of its own: one fewer to solve.
        principal = await current_principal(request)
        if self.permission not in principal.permissions:
            raise Problem(403, f"Your role does not allow this ({self.permission.value}).")
        return principal


def allowed(permission: Permission) -> Any:
    """`principal: Annotated[Principal, allowed(Permission.X)]`: the caller, once they hold `permission`."""
    return Depends(Authorization(permission))
