"""Users (global identities) and their memberships in organisations."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from keel.audit.security import record_security_event
from keel.core.cache import get_shared_state
from keel.core.db import set_tenant_context
from keel.core.errors import Problem
from keel.core.keyring import get_key_ring
from keel.core.platform import PlatformUnitOfWork
from keel.core.uow import UnitOfWork
from keel.identity import mfa, opaque, passwords, repository
from keel.identity.revocation import mark_revoked, subject_key
from keel.models import Membership, User, UserToken

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{2,63}$")


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise Problem(422, "Enter a valid e-mail address.")
    return value


@dataclass(frozen=True)
class OrganizationChoice:
    org_id: UUID
    name: str
    role: str
    mfa_required: bool


async def act_as(uow: UnitOfWork, user_id: UUID) -> None:
    """Let the transaction see and change this user's own rows (keeps the organisation, if any)."""
    await set_tenant_context(uow.session, uow.org_id, user_id)
    uow.user_id = user_id
    if uow.actor is None:
        uow.actor = f"user:{user_id}"


async def create_user(
    uow: UnitOfWork, email: str, password: str, *, name: str = "", verified: bool = False
) -> User:
    email = normalise_email(email)
    verdict = passwords.judge_password(password, personal=(email, name))
    if not verdict.acceptable:
        raise Problem(422, " ".join(verdict.problems) or "Choose a stronger password.")
    if await repository.has_account(uow.session, email):
        raise Problem(409, "An account with this e-mail already exists.")
    user_id = uuid.uuid4()
    await act_as(uow, user_id)
    user = User(
        id=user_id,
        email=email,
        name=name,
        password_hash=await passwords.hash_password(password),
        email_verified_at=datetime.now(UTC) if verified else None,
    )
    uow.session.add(user)
    await uow.session.flush()
    return user


async def add_membership(uow: UnitOfWork, user_id: UUID, role: str) -> Membership:
    membership = Membership(org_id=uow.tenant, user_id=user_id, role=role)
    uow.session.add(membership)
    await uow.session.flush()
    return membership


async def check_password(uow: UnitOfWork, email: str, password: str) -> User | None:
    """The enabled user with this e-mail and password, the transaction acting as them; else None.

    Costs one password hash whether or not the account exists.
    """
    try:
        email = normalise_email(email)
    except Problem:
        email = ""
    row = await repository.sign_in_candidate(uow.session, email) if email else None
    check = await passwords.verify_password(row.password_hash if row else None, password)
    if row is None or not check.valid:
        # Recorded even though the caller answers with an error: a refused sign-in must stand.
        user_id = row.user_id if row else None
        await record_security_event(
            uow, "login.failed", user_id=user_id, email=email, detail={"factor": "password"}
        )
        uow.commit_despite_error = True
        return None
    await act_as(uow, row.user_id)
    user = await repository.user_by_id(uow.session, row.user_id)
    if user is None:
        return None
    if check.rehash:
        user.password_hash = await passwords.hash_password(password)
    user.last_login_at = datetime.now(UTC)
    return user


async def my_organizations(uow: UnitOfWork) -> list[OrganizationChoice]:
    """The active organisations the transaction's user belongs to."""
    return [OrganizationChoice(*row) for row in await repository.organizations_of_user(uow.session)]


async def verify_second_factor(uow: UnitOfWork, user: User, code: str) -> str | None:
    """'totp' or 'backup' when `code` is good (and now spent), else None."""
    if user.totp_secret_encrypted is None or user.totp_enrolled_at is None:
        return None
    secret = get_key_ring().decrypt(user.totp_secret_encrypted).decode()
    step = mfa.accepted_step(secret, code, last_used_step=user.totp_last_step)
    if step is not None:
        return "totp" if await repository.claim_totp_step(uow.session, user.id, step) else None
    match = mfa.matching_backup_code(code, list(user.backup_code_hashes))
    if match is None:
        return None
    # Signing in with a backup code forces a new TOTP enrolment.
    return "backup" if await repository.spend_backup_code(uow, user, match) else None


async def membership_role(uow: UnitOfWork, user_id: UUID) -> str | None:
    return await repository.role_of_member(uow.session, user_id)


async def set_disabled(uow: PlatformUnitOfWork, email: str, *, disabled: bool) -> User:
    """Disable (or re-enable) an account everywhere: a disabled user's sessions and tokens end at once."""
    user = await repository.user_by_email(uow.session, normalise_email(email))
    if user is None:
        raise Problem(404, "No account uses this e-mail address.")
    now = datetime.now(UTC)
    if disabled and user.disabled_at is None:
        user.disabled_at, user.tokens_valid_after = now, now
        await mark_revoked(get_shared_state(), [subject_key(user.id)])
    elif not disabled:
        user.disabled_at = None
    uow.record_platform_action(
        "user.disabled" if disabled else "user.enabled", detail={"user_id": str(user.id)}
    )
    return user


async def issue_user_link(
    uow: UnitOfWork, user_id: UUID, purpose: str, valid_for: timedelta, *, new_email: str | None = None
) -> str:
    """A single-use link secret for this user (password reset, e-mail verification); only its hash is kept."""
    await act_as(uow, user_id)
    link, secret_hash = opaque.new_credential(user_id)
    uow.session.add(
        UserToken(
            user_id=user_id,
            purpose=purpose,
            secret_hash=secret_hash,
            new_email=new_email,
            expires_at=datetime.now(UTC) + valid_for,
        )
    )
    return link


async def open_user_link(uow: UnitOfWork, link: str, purpose: str) -> tuple[UserToken, User] | None:
    """The unused, unexpired link and its enabled user, locked for this transaction; else None."""
    parsed = opaque.parse_credential(link)
    if parsed is None:
        return None
    user_id, secret_hash = parsed
    await act_as(uow, user_id)
    row = await repository.live_user_link_locked(uow.session, secret_hash, purpose)
    user = await repository.user_by_id(uow.session, user_id) if row is not None else None
    if row is None or user is None or user.disabled_at is not None:
        return None
    return row, user
