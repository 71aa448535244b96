"""Organisation API keys: `keel_sk_` + 256 random bits, stored only as SHA-256, shown once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from uuid import UUID

from keel.core.audit_trail import record_event
from keel.core.cache import get_shared_state
from keel.core.errors import Problem
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.identity import repository
from keel.identity.revocation import mark_revoked, subject_key
from keel.models import ApiKey

SECRET_PREFIX = "keel_sk_"  # noqa: S105 - a public marker, not a secret


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def authenticate(uow: UnitOfWork, secret: str) -> Principal | None:
    """The principal for `secret`, with the unit of work entered into its organisation; else None."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
        return None
    row = await repository.enter_organization_of_api_key(uow.session, hash_secret(secret))
    if row is None:
        return None
    principal = Principal(org_id=row.org_id, actor=f"api_key:{row.key_id}")
    uow.tenant_entered(principal.org_id, actor=principal.actor)
    return principal


async def issue_api_key(uow: UnitOfWork, name: str, *, created_by: str) -> tuple[ApiKey, str]:
    secret = new_secret()
    key = ApiKey(
        org_id=uow.tenant,
        name=name,
        prefix=secret[: len(SECRET_PREFIX) + 4],
        secret_hash=hash_secret(secret),
        created_by=created_by,
    )
    uow.session.add(key)
    await uow.session.flush()
    await record_event(uow, "api_key.issued", entity_type="api_key", entity_id=key.id, after={"name": name})
    return key, secret


async def revoke_api_key(uow: UnitOfWork, key_id: UUID) -> ApiKey:
    key = await repository.get_api_key(uow.session, key_id)
    if key is None:
        raise Problem(404, "No such API key.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        # Access tokens it obtained by client credentials end now too.
        await mark_revoked(get_shared_state(), [subject_key(key.id)])
        await record_event(
            uow, "api_key.revoked", entity_type="api_key", entity_id=key.id, after={"name": key.name}
        )
    return key
