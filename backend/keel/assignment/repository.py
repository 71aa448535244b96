"""The queries of assignment rules."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.models import AssignmentRule, Membership, Team, TeamMember


async def active_rules_locked(session: AsyncSession, record_type: str) -> list[AssignmentRule]:
    """The active rules of a record type in the order they are tried, locked so team turns are taken one
    at a time."""
    rules = await session.scalars(
        select(AssignmentRule)
        .where(AssignmentRule.record_type == record_type, AssignmentRule.active)
        .order_by(AssignmentRule.position, AssignmentRule.created_at)
        .with_for_update()
    )
    return list(rules)


async def members_of_teams(session: AsyncSession, team_ids: set[UUID]) -> dict[UUID, list[UUID]]:
    """Each team's members who are still members of the organisation, in a stable order (the turns)."""
    members = await session.execute(
        select(TeamMember.team_id, TeamMember.user_id)
        .join(Membership, Membership.user_id == TeamMember.user_id)
        .where(TeamMember.team_id.in_(team_ids))
        .order_by(TeamMember.user_id)
    )
    teams: dict[UUID, list[UUID]] = {}
    for team_id, user_id in members:
        teams.setdefault(team_id, []).append(user_id)
    return teams


async def all_rules(session: AsyncSession) -> list[AssignmentRule]:
    query = select(AssignmentRule).order_by(
        AssignmentRule.record_type, AssignmentRule.position, AssignmentRule.created_at
    )
    return list(await session.scalars(query))


async def rule_by_id_locked(session: AsyncSession, rule_id: UUID) -> AssignmentRule | None:
    return await session.scalar(select(AssignmentRule).where(AssignmentRule.id == rule_id).with_for_update())


async def team_exists(session: AsyncSession, team_id: UUID) -> bool:
    return await session.get(Team, team_id) is not None


async def count_and_last_position(session: AsyncSession, record_type: str) -> tuple[int, int | None]:
    """How many rules a record type has, and the position of its last."""
    count, last = (
        await session.execute(
            select(func.count(), func.max(AssignmentRule.position)).where(
                AssignmentRule.record_type == record_type
            )
        )
    ).one()
    return count, last


async def move_rules_down_from(
    session: AsyncSession, record_type: str, position: int, rule_id: UUID | None
) -> None:
    """The rules at `position` and after (but `rule_id`) one place down."""
    later = [AssignmentRule.record_type == record_type, AssignmentRule.position >= position]
    if rule_id is not None:
        later.append(AssignmentRule.id != rule_id)
    await session.execute(update(AssignmentRule).where(*later).values(position=AssignmentRule.position + 1))


async def rule_giving_to_member(session: AsyncSession, user_id: UUID) -> str | None:
    """The name of a rule that gives records to the member, if any does."""
    return await session.scalar(
        select(AssignmentRule.name).where(AssignmentRule.owner_id == user_id).limit(1)
    )
