"""The queries of identity: accounts and their second factors, e-mailed links, browser sessions, API keys,
OAuth clients and signing keys; and, at the end, those Authlib's grants make.

Authlib's grants are synchronous and run inside the request's transaction through `run_sync`, so their
queries take the synchronous `Session` that `run_sync` hands them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import ColumnElement, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from keel.core.pagination import PageParams, keyset_page, newest_first
from keel.core.statements import fixed, rows
from keel.core.uow import UnitOfWork
from keel.models import (
    ApiKey,
    AuthorizationCode,
    LoginSession,
    Membership,
    OAuthClient,
    Organization,
    RefreshToken,
    SigningKey,
    User,
    UserToken,
)

# Accounts are found by e-mail through a definer function: before sign-in no user is known, and the
# runtime role sees no one else's row.
_CANDIDATE = text("SELECT user_id, password_hash FROM keel.login_candidate(:email)")
_ACCOUNT_ID = text("SELECT user_id FROM keel.login_candidate(:email)")
_HAS_ACCOUNT = text("SELECT 1 FROM keel.login_candidate(:email)")
_MY_ORGANIZATIONS = text("SELECT org_id, name, role, mfa_required FROM keel.my_organizations()")
_SPEND_BACKUP_CODE = text(
    "UPDATE keel.users SET backup_code_hashes = array_remove(backup_code_hashes, :h), "
    "mfa_enrolment_required = true WHERE id = :id AND :h = ANY(backup_code_hashes)"
)
# Finds the live key (through the definer function: the tenant is not known yet) and, in the same
# round trip, binds the transaction to its organisation.
_AUTHENTICATE_API_KEY = fixed(
    text(
        "SELECT a.org_id, a.key_id, set_config('app.org_id', a.org_id::text, true), "
        "set_config('app.user_id', '', true), set_config('app.scope', 'all', true) "
        "FROM keel.authenticate_api_key(:hash) AS a"
    )
)
_PURGE_SPENT_CREDENTIALS = text("SELECT keel.purge_spent_credentials(:kept)")


class SignInCandidate(NamedTuple):
    user_id: UUID
    password_hash: str | None


class LiveApiKey(NamedTuple):
    org_id: UUID
    key_id: UUID


# Accounts -----------------------------------------------------------------------------------------


async def sign_in_candidate(session: AsyncSession, email: str) -> SignInCandidate | None:
    """The enabled account with this (normalised) e-mail address, and its password hash."""
    row = (await session.execute(_CANDIDATE, {"email": email})).first()
    return SignInCandidate(row.user_id, row.password_hash) if row is not None else None


async def account_id_by_email(session: AsyncSession, email: str) -> UUID | None:
    """The id of the enabled account with this e-mail address."""
    user_id: UUID | None = await session.scalar(_ACCOUNT_ID, {"email": email})
    return user_id


async def has_account(session: AsyncSession, email: str) -> bool:
    """Whether an enabled account signs in with this address."""
    return (await session.execute(_HAS_ACCOUNT, {"email": email})).first() is not None


async def user_by_id(session: AsyncSession, user_id: UUID) -> User | None:
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The account with this address, disabled or not."""
    return await session.scalar(select(User).where(User.email == email))


async def organizations_of_user(session: AsyncSession) -> list[tuple[UUID, str, str, bool]]:
    """(org_id, name, role, mfa_required) of each active organisation the transaction's user belongs to."""
    rows = await session.execute(_MY_ORGANIZATIONS)
    return [(r.org_id, r.name, r.role, r.mfa_required) for r in rows]


async def role_of_member(session: AsyncSession, user_id: UUID) -> str | None:
    """The user's role in the transaction's organisation; None when they are not a member."""
    return await session.scalar(select(Membership.role).where(Membership.user_id == user_id))


async def claim_totp_step(session: AsyncSession, user_id: UUID, step: int) -> bool:
    """Record `step` as the last TOTP step used, unless it (or a later one) was used already.

    One conditional update: of two requests with one code, only one gets through."""
    done = await session.execute(
        update(User)
        .where(User.id == user_id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


async def spend_backup_code(uow: UnitOfWork, user: User, code_hash: bytes) -> bool:
    """Remove the backup code and require a new TOTP enrolment, in one statement (a code is spent once);
    the user is reloaded to show it. False when the code was spent already."""
    done = await uow.session.execute(_SPEND_BACKUP_CODE, {"h": code_hash, "id": user.id})
    uow.changed_tables.add("users")  # raw SQL: the session's change tracking does not see it
    await uow.session.refresh(user)
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


# E-mailed links and browser sessions ---------------------------------------------------------------


async def live_user_link_locked(session: AsyncSession, secret_hash: bytes, purpose: str) -> UserToken | None:
    """The unused, unexpired link with this hash and purpose, locked for the transaction."""
    return await session.scalar(
        select(UserToken)
        .where(
            UserToken.secret_hash == secret_hash,
            UserToken.purpose == purpose,
            UserToken.used_at.is_(None),
            UserToken.expires_at > datetime.now(UTC),
        )
        .with_for_update()
    )


async def live_login_session(session: AsyncSession, user_id: UUID, secret_hash: bytes) -> LoginSession | None:
    """The user's browser session with this hash, if it is neither signed out nor expired."""
    return await session.scalar(
        select(LoginSession).where(
            LoginSession.user_id == user_id,
            LoginSession.secret_hash == secret_hash,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > datetime.now(UTC),
        )
    )


async def end_other_login_sessions(session: AsyncSession, user_id: UUID, kept_id: UUID, at: datetime) -> None:
    """Sign the user out of every browser session but `kept_id`."""
    await session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.id != kept_id)
        .values(revoked_at=at)
    )


async def delete_spent_credentials(session: AsyncSession, kept: timedelta) -> int:
    """Delete codes, refresh tokens, sessions and links that stopped working `kept` ago; how many went."""
    return int(await session.scalar(_PURGE_SPENT_CREDENTIALS, {"kept": kept}) or 0)


# API keys, clients and signing keys ----------------------------------------------------------------


async def get_api_key(session: AsyncSession, key_id: UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_api_keys(session: AsyncSession, params: PageParams) -> tuple[Sequence[ApiKey], str | None]:
    return await keyset_page(
        session, select(ApiKey), sort=newest_first(ApiKey.created_at, ApiKey.id), params=params
    )


async def enter_organization_of_api_key(session: AsyncSession, secret_hash: bytes) -> LiveApiKey | None:
    """The live key with this hash, the transaction bound to its organisation; None when none is."""
    found = await rows(session, _AUTHENTICATE_API_KEY, {"hash": secret_hash})  # every request: no ORM
    return LiveApiKey(found[0][0], found[0][1]) if found else None


async def client_by_id(session: AsyncSession, client_id: str) -> OAuthClient | None:
    return await session.get(OAuthClient, client_id)


async def retire_signing_keys(session: AsyncSession, at: datetime, verify_until: datetime) -> list[str]:
    """Stop every signing key signing (each still verifies until `verify_until`); their kids."""
    retired = await session.scalars(
        update(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .values(retired_at=at, verify_until=verify_until)
        .returning(SigningKey.kid)
    )
    return list(retired.all())


async def newest_signing_key(session: AsyncSession) -> SigningKey | None:
    """The key that signs: the newest one not retired."""
    return await session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )


async def verifying_signing_keys(session: AsyncSession) -> list[SigningKey]:
    """Every key a valid token can have been signed with, newest first."""
    now = datetime.now(UTC)
    rows = await session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.verify_until.is_(None), SigningKey.verify_until > now))
        .order_by(SigningKey.created_at.desc())
    )
    return list(rows)


# What Authlib's grants ask for (synchronous) -------------------------------------------------------

_SET_CONTEXT = text(
    "SELECT set_config('app.org_id', :org_id, true), set_config('app.user_id', :user_id, true)"
)
_API_KEY = text("SELECT org_id, key_id FROM keel.authenticate_api_key(:hash)")
_CREDENTIAL_ORG = text("SELECT keel.oauth_credential_org(:kind, :hash)")


def bind_transaction(db: Session, org_id: UUID | None, user_id: UUID | None) -> None:
    """Bind the transaction to this organisation and user (or to none)."""
    db.execute(_SET_CONTEXT, {"org_id": str(org_id or ""), "user_id": str(user_id or "")})


def organization_holding_credential(db: Session, kind: str, value_hash: bytes) -> UUID | None:
    """The organisation of the code or refresh token (`kind`) with this hash, found before any tenant
    is known (a definer function)."""
    org_id: UUID | None = db.scalar(_CREDENTIAL_ORG, {"kind": kind, "hash": value_hash})
    return org_id


def live_api_key(db: Session, secret_hash: bytes) -> LiveApiKey | None:
    """The live key with this hash, found before its organisation is known (a definer function)."""
    row = db.execute(_API_KEY, {"hash": secret_hash}).first()
    return LiveApiKey(row.org_id, row.key_id) if row is not None else None


def enabled_client(db: Session, client_id: str) -> OAuthClient | None:
    return db.scalar(
        select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.disabled_at.is_(None))
    )


def redeem_authorization_code(
    db: Session, code_hash: bytes, client_id: str, dpop_jkt: str | None, at: datetime
) -> AuthorizationCode | None:
    """Mark the code redeemed and return it, if it is unredeemed, unexpired, the client's, and bound to
    no DPoP key or to `dpop_jkt`. One statement: of two redemptions, exactly one wins."""
    key_matches: ColumnElement[bool] = AuthorizationCode.dpop_jkt.is_(None)
    if dpop_jkt is not None:
        key_matches = or_(key_matches, AuthorizationCode.dpop_jkt == dpop_jkt)
    return db.scalar(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.code_hash == code_hash,
            AuthorizationCode.redeemed_at.is_(None),
            AuthorizationCode.expires_at > at,
            AuthorizationCode.client_id == client_id,
            key_matches,
        )
        .values(redeemed_at=at)
        .returning(AuthorizationCode)
    )


def authorization_code_by_hash(db: Session, code_hash: bytes) -> AuthorizationCode | None:
    return db.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash))


def organization_settings(db: Session, org_id: UUID) -> dict[str, Any] | None:
    return db.scalar(select(Organization.settings).where(Organization.id == org_id))


def refresh_token_by_hash(db: Session, token_hash: bytes, *, for_update: bool = False) -> RefreshToken | None:
    query = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    return db.scalar(query.with_for_update() if for_update else query)


def revoke_token_family(db: Session, family_id: UUID, at: datetime) -> None:
    """Revoke every refresh token of the family not revoked yet."""
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def user_for_grant(db: Session, user_id: UUID) -> User | None:
    return db.get(User, user_id)


def role_for_grant(db: Session, user_id: UUID) -> str | None:
    """The user's role in the transaction's organisation; None when they are not a member."""
    return db.scalar(select(Membership.role).where(Membership.user_id == user_id))
