"""The queries of members and invitations. Row-level security scopes them to the current organisation;
two definer functions (migrations) answer what the API's role may not read itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.pagination import PageParams, keyset_page, newest_first
from keel.models import Invitation, Membership, Organization, RefreshToken, SecurityEvent, User

_RESET_MFA = text("SELECT keel.reset_member_mfa(:user_id)")
_HAS_ACCOUNT = text("SELECT 1 FROM keel.login_candidate(:email)")


async def organization_settings(session: AsyncSession, org_id: UUID) -> dict[str, Any] | None:
    return await session.scalar(select(Organization.settings).where(Organization.id == org_id))


async def organization_name(session: AsyncSession, org_id: UUID) -> str | None:
    return await session.scalar(select(Organization.name).where(Organization.id == org_id))


async def is_member_by_email(session: AsyncSession, email: str) -> bool:
    member = await session.scalar(
        select(Membership.user_id).join(User, User.id == Membership.user_id).where(User.email == email)
    )
    return member is not None


async def invitation_by_secret_locked(session: AsyncSession, secret_hash: bytes) -> Invitation | None:
    return await session.scalar(
        select(Invitation).where(Invitation.secret_hash == secret_hash).with_for_update()
    )


async def invitation_by_id(session: AsyncSession, invitation_id: UUID) -> Invitation | None:
    return await session.get(Invitation, invitation_id)


async def has_account(session: AsyncSession, email: str) -> bool:
    """Whether someone can sign in with this address, in any organisation."""
    return (await session.execute(_HAS_ACCOUNT, {"email": email})).first() is not None


async def membership(session: AsyncSession, org_id: UUID, user_id: UUID) -> Membership | None:
    return await session.get(Membership, (org_id, user_id))


async def members_by_email(session: AsyncSession) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id).order_by(User.email)
    )
    return [(m, u) for m, u in rows]


async def member(session: AsyncSession, user_id: UUID) -> tuple[Membership, User] | None:
    row = (
        await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.user_id == user_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def count_org_admins(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).where(Membership.role == "org_admin")) or 0


async def count_records_held_by(session: AsyncSession, model: Any, user_id: UUID) -> int:
    """How many of an owned record type the member owns or is assigned."""
    held = select(func.count()).where(or_(model.owner_id == user_id, model.assignee_id == user_id))
    return await session.scalar(held) or 0


async def remove_membership(session: AsyncSession, user_id: UUID) -> None:
    await session.execute(delete(Membership).where(Membership.user_id == user_id))


async def revoke_refresh_tokens(session: AsyncSession, user_id: UUID, at: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def reset_mfa(session: AsyncSession, user_id: UUID) -> bool:
    """Remove the member's second factors and end their sessions; False when they are no member."""
    return bool(await session.scalar(_RESET_MFA, {"user_id": user_id}))


async def user_by_id(session: AsyncSession, user_id: UUID) -> User | None:
    return await session.get(User, user_id)


async def invitations_page(
    session: AsyncSession, page: PageParams
) -> tuple[Sequence[Invitation], str | None]:
    """The organisation's invitations, newest first."""
    return await keyset_page(
        session, select(Invitation), sort=newest_first(Invitation.created_at, Invitation.id), params=page
    )


async def security_events_page(
    session: AsyncSession, page: PageParams
) -> tuple[Sequence[SecurityEvent], str | None]:
    """The caller's own security events, newest first (the database shows a user only theirs)."""
    return await keyset_page(
        session,
        select(SecurityEvent),
        sort=newest_first(SecurityEvent.created_at, SecurityEvent.id),
        params=page,
    )
