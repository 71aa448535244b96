"""Members of an organisation and invitations to join it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from keel.access.service import require_role
from keel.assignment.repository import rule_giving_to_member
from keel.audit.security import record_security_event
from keel.core.audit_trail import record_event
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.mail import queue_email
from keel.core.org_policy import bump_access_version
from keel.core.uow import UnitOfWork
from keel.identity import opaque
from keel.identity.revocation import mark_revoked, member_key, subject_key
from keel.identity.users import add_membership, check_password, create_user, normalise_email
from keel.models import Invitation, Membership, User, owned_models
from keel.users import repository
from keel.users.schemas import MemberOut

INVITATION_DAYS = 7


async def invite(uow: UnitOfWork, email: str, role: str, *, invited_by: str) -> Invitation:
    email = normalise_email(email)
    await require_role(uow, role)
    settings = await repository.organization_settings(uow.session, uow.tenant)
    domains = (settings or {}).get("invitation_domains") or []
    if domains and email.rsplit("@", 1)[1] not in domains:
        raise Problem(422, f"Invitations may only go to addresses at {', '.join(domains)}.")
    if await repository.is_member_by_email(uow.session, email):
        raise Problem(409, "This person is already a member of the organisation.")
    link, secret_hash = opaque.new_credential(uow.tenant)
    invitation = Invitation(
        org_id=uow.tenant,
        email=email,
        role=role,
        secret_hash=secret_hash,
        invited_by=invited_by,
        expires_at=datetime.now(UTC) + timedelta(days=INVITATION_DAYS),
    )
    uow.session.add(invitation)
    await uow.session.flush()
    await record_event(
        uow,
        "invitation.sent",
        entity_type="invitation",
        entity_id=invitation.id,
        after={"email": email, "role": role},
    )
    org_name = await repository.organization_name(uow.session, uow.tenant)
    url = f"{get_settings().issuer}/invitations/accept?token={link}"
    await queue_email(
        uow,
        email,
        f"You are invited to join {org_name} on Keel",
        f"You have been invited to join {org_name} on Keel as {role.replace('_', ' ')}.\n\n"
        f"Accept the invitation here (the link works once, for {INVITATION_DAYS} days):\n{url}\n",
    )
    return invitation


async def open_invitation(uow: UnitOfWork, token: str) -> Invitation:
    """The usable invitation `token` names, the transaction entered into its organisation; else 404."""
    parsed = opaque.parse_credential(token)
    gone = Problem(404, "This invitation link is not valid any more. Ask for a new one.")
    if parsed is None:
        raise gone
    org_id, secret_hash = parsed
    await uow.enter_tenant(org_id, actor="invitation")
    invitation = await repository.invitation_by_secret_locked(uow.session, secret_hash)
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= datetime.now(UTC)
    ):
        raise gone
    return invitation


async def has_account(uow: UnitOfWork, email: str) -> bool:
    return await repository.has_account(uow.session, email)


async def accept_invitation(uow: UnitOfWork, token: str, *, password: str, name: str) -> User:
    """Join with an existing account (its password proves it is theirs) or create one."""
    invitation = await open_invitation(uow, token)
    if await has_account(uow, invitation.email):
        user = await check_password(uow, invitation.email, password)
        if user is None:
            raise Problem(400, "The password is not right for this account.")
    else:
        user = await create_user(uow, invitation.email, password, name=name, verified=True)
    uow.actor = f"user:{user.id}"
    if await repository.membership(uow.session, invitation.org_id, user.id) is None:
        await add_membership(uow, user.id, invitation.role)
        await bump_access_version(uow)
    invitation.accepted_at, invitation.accepted_by = datetime.now(UTC), user.id
    await record_event(
        uow,
        "invitation.accepted",
        entity_type="invitation",
        entity_id=invitation.id,
        after={"user_id": str(user.id), "role": invitation.role},
    )
    return user


async def revoke_invitation(uow: UnitOfWork, invitation_id: UUID) -> Invitation:
    invitation = await repository.invitation_by_id(uow.session, invitation_id)
    if invitation is None:
        raise Problem(404, "No such invitation.")
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = datetime.now(UTC)
        await record_event(uow, "invitation.revoked", entity_type="invitation", entity_id=invitation.id)
    return invitation


async def list_members(uow: UnitOfWork) -> list[MemberOut]:
    return [_member(m, u) for m, u in await repository.members_by_email(uow.session)]


def _member(membership: Membership, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=membership.role,
        mfa_enrolled=user.has_mfa,
        joined_at=membership.created_at,
        last_login_at=user.last_login_at,
    )


async def _membership(uow: UnitOfWork, user_id: UUID) -> tuple[Membership, User]:
    row = await repository.member(uow.session, user_id)
    if row is None:
        raise Problem(404, "No such member.")
    return row


async def _keep_an_admin(uow: UnitOfWork, membership: Membership) -> None:
    if membership.role != "org_admin":
        return
    if await repository.count_org_admins(uow.session) <= 1:
        raise Problem(409, "An organisation needs at least one Org Admin.")


async def change_role(uow: UnitOfWork, user_id: UUID, role: str) -> MemberOut:
    membership, user = await _membership(uow, user_id)
    if membership.role != role:
        await require_role(uow, role)
        if role != "org_admin":
            await _keep_an_admin(uow, membership)
        before = membership.role
        membership.role = role
        await record_event(
            uow,
            "member.role_changed",
            entity_type="user",
            entity_id=user_id,
            before={"role": before},
            after={"role": role},
        )
        # Access tokens carry the old role: end them now; a refresh picks up the new one.
        await mark_revoked(get_shared_state(), [member_key(uow.tenant, user_id)])
        await bump_access_version(uow)
    return _member(membership, user)


async def remove_member(uow: UnitOfWork, user_id: UUID) -> None:
    membership, _ = await _membership(uow, user_id)
    await _keep_an_admin(uow, membership)
    rule = await rule_giving_to_member(uow.session, user_id)
    if rule is not None:
        raise Problem(
            409, f"Assignment rule {rule!r} gives records to the member: change or delete it first."
        )
    for model in owned_models():
        records = model.__name__.lower()
        if held := await repository.count_records_held_by(uow.session, model, user_id):
            raise Problem(
                409, f"The member owns or is assigned {held} {records}(s): hand them to someone else first."
            )
    await repository.remove_membership(uow.session, user_id)
    await repository.revoke_refresh_tokens(uow.session, user_id, datetime.now(UTC))
    await record_event(
        uow, "member.removed", entity_type="user", entity_id=user_id, before={"role": membership.role}
    )
    await mark_revoked(get_shared_state(), [member_key(uow.tenant, user_id)])
    await bump_access_version(uow)


async def reset_member_mfa(uow: UnitOfWork, user_id: UUID) -> None:
    if not await repository.reset_mfa(uow.session, user_id):
        raise Problem(404, "No such member.")
    await record_event(uow, "member.mfa_reset", entity_type="user", entity_id=user_id)
    await record_security_event(uow, "mfa.reset_by_admin", user_id=user_id, detail={"by": uow.actor})
    # The member's sessions and refresh tokens ended with tokens_valid_after; end access tokens too.
    await mark_revoked(get_shared_state(), [subject_key(user_id)])


async def profile(uow: UnitOfWork, user_id: UUID) -> User:
    user = await repository.user_by_id(uow.session, user_id)
    if user is None:
        raise Problem(404, "No such user.")
    return user


async def update_profile(uow: UnitOfWork, user_id: UUID, changes: dict[str, str]) -> User:
    user = await profile(uow, user_id)
    before = {k: getattr(user, k) for k in changes}
    for key, value in changes.items():
        setattr(user, key, value)
    if before != changes:
        user.version += 1
        user.updated_at = datetime.now(UTC)
        await record_event(
            uow, "profile.updated", entity_type="user", entity_id=user_id, before=before, after=changes
        )
    return user
