"""The queries of members, roles and teams. Row-level security scopes each to the current organisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Uuid, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.statements import fixed, rows
from keel.models import AssignmentRule, Invitation, Membership, Role, Team, TeamMember

_MEMBER = fixed(select(Membership.user_id).where(Membership.user_id == bindparam("p_user", type_=Uuid)))


async def is_member(session: AsyncSession, user_id: UUID) -> bool:
    return bool(await rows(session, _MEMBER, {"p_user": user_id}))  # each create asks: no ORM


async def role_grants(session: AsyncSession) -> Sequence[Any]:
    """Each role of the organisation's own as (key, permissions, record_scope)."""
    return (await session.execute(select(Role.key, Role.permissions, Role.record_scope))).all()


async def custom_roles(session: AsyncSession) -> Sequence[Role]:
    return (await session.scalars(select(Role).order_by(Role.key))).all()


async def role_by_key(session: AsyncSession, key: str, *, for_update: bool = False) -> Role | None:
    query = select(Role).where(Role.key == key)
    return await session.scalar(query.with_for_update() if for_update else query)


async def role_exists(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(Role.key).where(Role.key == key)) is not None


async def count_custom_roles(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Role)) or 0


async def count_role_holders(session: AsyncSession, key: str) -> int:
    return await session.scalar(select(func.count()).where(Membership.role == key)) or 0


async def count_open_invitations_with_role(session: AsyncSession, key: str) -> int:
    pending = select(func.count()).where(
        Invitation.role == key, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)
    )
    return await session.scalar(pending) or 0


async def member_ids_of_team(session: AsyncSession, team_id: UUID) -> list[UUID]:
    members = await session.scalars(
        select(TeamMember.user_id).where(TeamMember.team_id == team_id).order_by(TeamMember.created_at)
    )
    return list(members)


async def teams_by_name(session: AsyncSession) -> Sequence[Team]:
    return (await session.scalars(select(Team).order_by(Team.name))).all()


async def members_by_team(session: AsyncSession) -> dict[UUID, list[UUID]]:
    by_team: dict[UUID, list[UUID]] = {}
    for team_id, user_id in await session.execute(select(TeamMember.team_id, TeamMember.user_id)):
        by_team.setdefault(team_id, []).append(user_id)
    return by_team


async def team_by_id(session: AsyncSession, team_id: UUID) -> Team | None:
    return await session.get(Team, team_id)


async def team_name_taken(session: AsyncSession, name: str) -> bool:
    return await session.scalar(select(Team.id).where(Team.name == name)) is not None


async def count_teams(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Team)) or 0


async def team_membership(
    session: AsyncSession, org_id: UUID, team_id: UUID, user_id: UUID
) -> TeamMember | None:
    return await session.get(TeamMember, (org_id, team_id, user_id))


async def remove_from_team(session: AsyncSession, team_id: UUID, user_id: UUID) -> bool:
    """Whether the member was in the team."""
    removed = await session.execute(
        delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )
    return bool(removed.rowcount)  # type: ignore[attr-defined]


async def rule_giving_to_team(session: AsyncSession, team_id: UUID) -> str | None:
    """The name of an assignment rule that gives records to the team, if any does: a team is kept
    while a rule needs it."""
    return await session.scalar(select(AssignmentRule.name).where(AssignmentRule.team_id == team_id).limit(1))
