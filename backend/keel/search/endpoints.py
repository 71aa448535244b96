from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.search import service
from keel.search.service import Hit

Searcher = Annotated[Principal, allowed(Permission.SEARCH_USE)]

router = APIRouter(prefix="/search", tags=["search"], route_class=UnitOfWorkRoute)


@router.get("", response_model=list[Hit])
async def search(
    principal: Searcher,
    uow: UoW,
    q: Annotated[
        str, Query(min_length=2, max_length=100, description="Words, a name (even misspelled), an e-mail")
    ],
    types: Annotated[
        list[Literal["account", "contact", "deal"]] | None, Query(description="Only these record types")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[Hit]:
    """Accounts, contacts and deals matching `q`, best first: among the records the caller may see,
    of the types their role reads."""
    return await service.search(uow, principal, q, set(types) if types else None, limit)
