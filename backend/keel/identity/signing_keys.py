"""The authorization server's signing keys: created and retired on the platform path, private halves
encrypted with the key ring, public halves published as a JWKS.

Rotation leaves the old key verifying for one token lifetime (plus clock skew), so tokens it signed
keep working until they expire on their own.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, KeySet
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.keyring import KeyRing
from keel.core.platform import PlatformUnitOfWork
from keel.identity import repository
from keel.identity.tokens import ACCESS_TOKEN_SECONDS, CLOCK_SKEW_SECONDS, new_signing_key
from keel.models import SigningKey

VERIFY_AFTER_RETIREMENT = timedelta(seconds=ACCESS_TOKEN_SECONDS + CLOCK_SKEW_SECONDS)


async def rotate_signing_key(uow: PlatformUnitOfWork, keyring: KeyRing) -> SigningKey:
    """Start signing with a new key; the current one only verifies from now on, until its tokens expire."""
    now = datetime.now(UTC)
    retired = await repository.retire_signing_keys(uow.session, now, now + VERIFY_AFTER_RETIREMENT)
    key = new_signing_key()
    row = SigningKey(
        kid=key.kid,
        public_jwk=key.as_dict(private=False),
        private_jwk_encrypted=keyring.encrypt(json.dumps(key.as_dict(private=True)).encode()),
        created_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.record_platform_action("signing_key.rotated", detail={"kid": key.kid, "retired": retired})
    return row


async def current_signing_key(session: AsyncSession, keyring: KeyRing) -> ECKey | None:
    row = await repository.newest_signing_key(session)
    if row is None:
        return None
    return ECKey.import_key(json.loads(keyring.decrypt(row.private_jwk_encrypted)))


async def verification_keys(session: AsyncSession) -> KeySet:
    """Every public key a valid token can have been signed with."""
    return KeySet(
        [ECKey.import_key(row.public_jwk) for row in await repository.verifying_signing_keys(session)]
    )


async def published_jwks(session: AsyncSession) -> dict[str, Any]:
    """The JWKS document: public halves only."""
    return {"keys": [dict(row.public_jwk) for row in await repository.verifying_signing_keys(session)]}


class KeyCache:
    """Keys held in this process, so signing and verifying do not read the database per request.

    Entries live `ttl` seconds; a token naming an unknown kid (a key rotated in by another process)
    reloads at most once per `miss_interval` seconds, so junk kids cannot turn into database load.
    """

    def __init__(self, ttl: float = 60.0, miss_interval: float = 5.0) -> None:
        self.ttl, self.miss_interval = ttl, miss_interval
        self._signing: tuple[ECKey | None, float] = (None, 0.0)
        self._verifying: tuple[KeySet, float] = (KeySet([]), 0.0)
        self._last_miss = 0.0

    def clear(self) -> None:
        self._signing = (None, 0.0)
        self._verifying = (KeySet([]), 0.0)
        self._last_miss = 0.0

    async def signing_key(self, session: AsyncSession, keyring: KeyRing) -> ECKey | None:
        key, loaded = self._signing
        if key is None or time.monotonic() - loaded > self.ttl:
            key = await current_signing_key(session, keyring)
            self._signing = (key, time.monotonic())
        return key

    def cached_verification_keys(self) -> KeySet | None:
        keys, loaded = self._verifying
        return keys if loaded and time.monotonic() - loaded <= self.ttl else None

    def may_reload_for_unknown_kid(self) -> bool:
        now = time.monotonic()
        if now - self._last_miss < self.miss_interval:
            return False
        self._last_miss = now
        return True

    async def load_verification_keys(self, session: AsyncSession) -> KeySet:
        keys = await verification_keys(session)
        self._verifying = (keys, time.monotonic())
        return keys


key_cache = KeyCache()
