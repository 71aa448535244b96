from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.organizations import service
from keel.organizations.schemas import OrganizationOut, OrganizationPatch

router = APIRouter(prefix="/organization", tags=["organization"], route_class=UnitOfWorkRoute)
GONE = {404: "The organisation no longer exists"}


@router.get("", response_model=OrganizationOut, responses={**sends_etag(), **problem_docs(GONE)})
async def get_organization(
    principal: Annotated[Principal, allowed(Permission.ORGANIZATION_READ)], uow: UoW, response: Response
) -> OrganizationOut:
    """The calling organisation's profile and settings. The ETag goes back in If-Match to update."""
    org = await service.get_own_organization(uow)
    response.headers["ETag"] = etag(org.version)
    return OrganizationOut.model_validate(org)


@router.patch(
    "",
    response_model=OrganizationOut,
    responses=problem_docs(
        {**GONE, 409: "The IP allowlist would shut out the address this request comes from"}
    ),
)
async def update_organization(
    patch: OrganizationPatch,
    principal: Annotated[Principal, allowed(Permission.ORGANIZATION_UPDATE)],
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> OrganizationOut:
    """Change the name or settings. Requires If-Match with the ETag last read."""
    org = await service.update_organization(uow, patch, expected_version=required_version(if_match))
    response.headers["ETag"] = etag(org.version)
    return OrganizationOut.model_validate(org)
