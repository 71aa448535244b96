"""The organisation's own roles and its teams, managed by an Org Admin. Every change is audited and
bumps the organisation's access version, so cached permissions are dropped at the next request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from keel.access import repository
from keel.access.permissions import EVERYONE, ROLES
from keel.access.roles import BUILT_IN, custom_grant
from keel.access.schemas import RoleCreate, RoleOut, RolePatch, TeamOut
from keel.core.audit_trail import changed_fields, record_event
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.org_policy import bump_access_version
from keel.core.uow import UnitOfWork
from keel.models import Role, Team, TeamMember

MAX_CUSTOM_ROLES = 100
MAX_TEAMS = 500


def _built_in_out(key: str) -> RoleOut:
    grant = BUILT_IN[key]
    return RoleOut(
        key=key,
        name=ROLES[key],
        built_in=True,
        permissions=sorted(grant.permissions),
        record_scope=grant.record_scope,
        version=1,
    )


def role_out(role: Role) -> RoleOut:
    grant = custom_grant(role.permissions, role.record_scope)
    return RoleOut(
        key=role.key,
        name=role.name,
        built_in=False,
        permissions=sorted(grant.permissions),
        record_scope=role.record_scope,
        version=role.version,
    )


def _snapshot(role: Role) -> dict[str, Any]:
    return {"name": role.name, "permissions": sorted(role.permissions), "record_scope": role.record_scope}


async def list_roles(uow: UnitOfWork) -> list[RoleOut]:
    custom = await repository.custom_roles(uow.session)
    return [_built_in_out(key) for key in ROLES] + [role_out(r) for r in custom]


async def get_role(uow: UnitOfWork, key: str) -> RoleOut:
    if key in ROLES:
        return _built_in_out(key)
    return role_out(await _custom(uow, key))


async def _custom(uow: UnitOfWork, key: str, *, for_update: bool = False) -> Role:
    if key in ROLES:
        raise Problem(409, f"{ROLES[key]} is a built-in role: it cannot be changed or deleted.")
    role = await repository.role_by_key(uow.session, key, for_update=for_update)
    if role is None:
        raise Problem(404, f"No role {key!r}.")
    return role


async def require_role(uow: UnitOfWork, key: str) -> None:
    """Refuse a role that is neither built in nor one of the organisation's own."""
    if key not in ROLES and not await repository.role_exists(uow.session, key):
        raise Problem(422, f"No role {key!r}: use a built-in role or create it first.")


async def create_role(uow: UnitOfWork, body: RoleCreate) -> RoleOut:
    if body.key in ROLES:
        raise Problem(409, f"{body.key!r} is a built-in role.")
    if await repository.count_custom_roles(uow.session) >= MAX_CUSTOM_ROLES:
        raise Problem(409, f"An organisation can have at most {MAX_CUSTOM_ROLES} roles of its own.")
    permissions = sorted({p.value for p in body.permissions} | {p.value for p in EVERYONE})
    role = Role(
        org_id=uow.tenant,
        key=body.key,
        name=body.name,
        permissions=permissions,
        record_scope=body.record_scope,
    )
    try:
        async with uow.session.begin_nested():
            uow.session.add(role)
    except IntegrityError:
        raise Problem(409, f"The role {body.key!r} already exists.") from None
    await record_event(uow, "role.created", entity_type="role", entity_id=role.key, after=_snapshot(role))
    await bump_access_version(uow)
    return role_out(role)


async def update_role(uow: UnitOfWork, key: str, patch: RolePatch, *, expected_version: int) -> RoleOut:
    role = await _custom(uow, key, for_update=True)
    if role.version != expected_version:
        raise stale()
    before = _snapshot(role)
    if patch.name is not None:
        role.name = patch.name
    if patch.permissions is not None:
        role.permissions = sorted({p.value for p in patch.permissions} | {p.value for p in EVERYONE})
    if patch.record_scope is not None:
        role.record_scope = patch.record_scope
    old, new = changed_fields(before, _snapshot(role))
    if new:
        role.version += 1
        role.updated_at = datetime.now(UTC)
        await record_event(uow, "role.updated", entity_type="role", entity_id=key, before=old, after=new)
        await bump_access_version(uow)
    return role_out(role)


async def delete_role(uow: UnitOfWork, key: str) -> None:
    role = await _custom(uow, key, for_update=True)
    holders = await repository.count_role_holders(uow.session, key)
    pending = await repository.count_open_invitations_with_role(uow.session, key)
    if holders or pending:
        raise Problem(
            409,
            f"{holders} member(s) and {pending} open invitation(s) use this role: give them another first.",
        )
    await uow.session.delete(role)
    await record_event(uow, "role.deleted", entity_type="role", entity_id=key, before=_snapshot(role))
    await bump_access_version(uow)


async def _team_out(uow: UnitOfWork, team: Team) -> TeamOut:
    members = await repository.member_ids_of_team(uow.session, team.id)
    return TeamOut(id=team.id, name=team.name, member_ids=members, created_at=team.created_at)


async def list_teams(uow: UnitOfWork) -> list[TeamOut]:
    teams = await repository.teams_by_name(uow.session)
    by_team = await repository.members_by_team(uow.session)
    return [
        TeamOut(id=t.id, name=t.name, member_ids=by_team.get(t.id, []), created_at=t.created_at)
        for t in teams
    ]


async def _team(uow: UnitOfWork, team_id: UUID) -> Team:
    team = await repository.team_by_id(uow.session, team_id)
    if team is None:
        raise Problem(404, "No such team.")
    return team


async def get_team(uow: UnitOfWork, team_id: UUID) -> TeamOut:
    return await _team_out(uow, await _team(uow, team_id))


async def _named_uniquely(uow: UnitOfWork, name: str) -> None:
    if await repository.team_name_taken(uow.session, name):
        raise Problem(409, f"A team named {name!r} already exists.")


async def create_team(uow: UnitOfWork, name: str) -> TeamOut:
    if await repository.count_teams(uow.session) >= MAX_TEAMS:
        raise Problem(409, f"An organisation can have at most {MAX_TEAMS} teams.")
    await _named_uniquely(uow, name)
    team = Team(org_id=uow.tenant, name=name, created_at=datetime.now(UTC))
    uow.session.add(team)
    await uow.session.flush()
    await record_event(uow, "team.created", entity_type="team", entity_id=team.id, after={"name": name})
    return TeamOut(id=team.id, name=name, member_ids=[], created_at=team.created_at)


async def rename_team(uow: UnitOfWork, team_id: UUID, name: str) -> TeamOut:
    team = await _team(uow, team_id)
    if team.name != name:
        await _named_uniquely(uow, name)
        await record_event(
            uow,
            "team.renamed",
            entity_type="team",
            entity_id=team_id,
            before={"name": team.name},
            after={"name": name},
        )
        team.name = name
    return await _team_out(uow, team)


async def delete_team(uow: UnitOfWork, team_id: UUID) -> None:
    team = await _team(uow, team_id)
    rule = await repository.rule_giving_to_team(uow.session, team_id)
    if rule is not None:
        raise Problem(409, f"Assignment rule {rule!r} gives records to this team: change or delete it first.")
    await uow.session.delete(team)
    await record_event(uow, "team.deleted", entity_type="team", entity_id=team_id, before={"name": team.name})
    await bump_access_version(uow)


async def add_team_member(uow: UnitOfWork, team_id: UUID, user_id: UUID) -> None:
    await _team(uow, team_id)
    if not await repository.is_member(uow.session, user_id):
        raise Problem(404, "No such member.")
    exists = await repository.team_membership(uow.session, uow.tenant, team_id, user_id)
    if exists is None:
        uow.session.add(TeamMember(org_id=uow.tenant, team_id=team_id, user_id=user_id))
        await record_event(
            uow, "team.member_added", entity_type="team", entity_id=team_id, after={"user_id": str(user_id)}
        )
        await bump_access_version(uow)


async def remove_team_member(uow: UnitOfWork, team_id: UUID, user_id: UUID) -> None:
    await _team(uow, team_id)
    if await repository.remove_from_team(uow.session, team_id, user_id):
        await record_event(
            uow,
            "team.member_removed",
            entity_type="team",
            entity_id=team_id,
            before={"user_id": str(user_id)},
        )
        await bump_access_version(uow)
