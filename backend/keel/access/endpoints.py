"""The organisation's roles (built-in and its own) and its teams."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from keel.access import service
from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.access.schemas import RoleCreate, RoleKey, RoleOut, RolePatch, TeamCreate, TeamOut
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW

MembersRead = Annotated[Principal, allowed(Permission.MEMBERS_READ)]
RolesManage = Annotated[Principal, allowed(Permission.ROLES_MANAGE)]
TeamsManage = Annotated[Principal, allowed(Permission.TEAMS_MANAGE)]

roles = APIRouter(prefix="/roles", tags=["roles and teams"], route_class=UnitOfWorkRoute)
teams = APIRouter(prefix="/teams", tags=["roles and teams"], route_class=UnitOfWorkRoute)


@roles.get("", response_model=list[RoleOut])
async def list_roles(principal: MembersRead, uow: UoW) -> list[RoleOut]:
    """The built-in roles, then the organisation's own, with their permissions and record scope."""
    return await service.list_roles(uow)


@roles.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleOut,
    responses={
        **sends_etag(201),
        **problem_docs(
            {409: "The key is a built-in role or taken, or the organisation has its maximum of roles"}
        ),
    },
)
async def create_role(
    body: RoleCreate, principal: RolesManage, _: Idempotent, uow: UoW, response: Response
) -> RoleOut:
    """Add a role of the organisation's own: a named set of permissions and the records it sees."""
    role = await service.create_role(uow, body)
    response.headers["ETag"] = etag(role.version)
    return role


@roles.get("/{key}", response_model=RoleOut, responses=sends_etag())
async def get_role(key: RoleKey, principal: MembersRead, uow: UoW, response: Response) -> RoleOut:
    role = await service.get_role(uow, key)
    response.headers["ETag"] = etag(role.version)
    return role


@roles.patch(
    "/{key}", response_model=RoleOut, responses=problem_docs({409: "Built-in roles cannot be changed"})
)
async def update_role(
    key: RoleKey,
    body: RolePatch,
    principal: RolesManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> RoleOut:
    """Change a role of the organisation's own. Its members' next request uses the new permissions."""
    role = await service.update_role(uow, key, body, expected_version=required_version(if_match))
    response.headers["ETag"] = etag(role.version)
    return role


@roles.delete(
    "/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_docs({409: "A built-in role, or one members or open invitations still hold"}),
)
async def delete_role(key: RoleKey, principal: RolesManage, uow: UoW) -> Response:
    """Delete a role nobody holds (members and open invitations need another role first)."""
    await service.delete_role(uow, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@teams.get("", response_model=list[TeamOut])
async def list_teams(principal: MembersRead, uow: UoW) -> list[TeamOut]:
    return await service.list_teams(uow)


@teams.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamOut,
    responses=problem_docs(
        {409: "A team with this name exists, or the organisation has its maximum of teams"}
    ),
)
async def create_team(body: TeamCreate, principal: TeamsManage, _: Idempotent, uow: UoW) -> TeamOut:
    """A team: its Managers see the records owned by or assigned to any of its members."""
    return await service.create_team(uow, body.name)


@teams.get("/{team_id}", response_model=TeamOut)
async def get_team(team_id: UUID, principal: MembersRead, uow: UoW) -> TeamOut:
    return await service.get_team(uow, team_id)


@teams.patch(
    "/{team_id}", response_model=TeamOut, responses=problem_docs({409: "A team with this name exists"})
)
async def rename_team(team_id: UUID, body: TeamCreate, principal: TeamsManage, uow: UoW) -> TeamOut:
    return await service.rename_team(uow, team_id, body.name)


@teams.delete(
    "/{team_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_docs({409: "An assignment rule gives records to the team"}),
)
async def delete_team(team_id: UUID, principal: TeamsManage, uow: UoW) -> Response:
    await service.delete_team(uow, team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@teams.put(
    "/{team_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_docs({404: "No such team, or the user is not a member of the organisation"}),
)
async def add_team_member(team_id: UUID, user_id: UUID, principal: TeamsManage, uow: UoW) -> Response:
    """Put a member of the organisation in the team (doing it twice changes nothing)."""
    await service.add_team_member(uow, team_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@teams.delete("/{team_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_team_member(team_id: UUID, user_id: UUID, principal: TeamsManage, uow: UoW) -> Response:
    await service.remove_team_member(uow, team_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
