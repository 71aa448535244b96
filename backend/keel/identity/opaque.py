"""Opaque credentials, kept only as SHA-256.

Two shapes:

- **Bearer secrets** (authorization codes, refresh tokens): 256 random bits, base64url, nothing else.
  They travel through redirect URLs and client storage, so they name no organisation and no user (ADR
  0015). The server finds the organisation by the hash, through a definer function, and then reads the
  row under row-level security.
- **Credentials that name their owner** (invitations, password-reset links, browser sessions):
  `<owner uuid hex>.<256 random bits>`. The owner part (an organisation or a user, never secret) lets the
  server enter the right tenant or user context before it looks the hash up under row-level security; a
  forged owner part finds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

MAX_LENGTH = 120
SECRET_BYTES = 32
# Bearer secrets Keel issues are 43 characters; values of the earlier `<org hex>.<secret>` shape (76)
# are still looked up until they expire.
MIN_BEARER_LENGTH = 43


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def new_bearer_secret() -> tuple[str, bytes]:
    """A code or refresh token to hand out once, and the hash to store."""
    value = secrets.token_urlsafe(SECRET_BYTES)
    return value, digest(value)


def bearer_digest(value: str | None) -> bytes | None:
    """The hash to look a presented code or refresh token up by; None when it cannot be one."""
    if not value or not MIN_BEARER_LENGTH <= len(value) <= MAX_LENGTH or not value.isascii():
        return None
    return digest(value)


def new_credential(owner: UUID) -> tuple[str, bytes]:
    """The value to hand out once, and the hash to store."""
    value = f"{owner.hex}.{secrets.token_urlsafe(SECRET_BYTES)}"
    return value, digest(value)


def parse_credential(value: str | None) -> tuple[UUID, bytes] | None:
    """The owner and hash of a well-formed credential; None for anything else."""
    if not value or len(value) > MAX_LENGTH:
        return None
    owner, dot, secret = value.partition(".")
    if not dot or len(owner) != 32 or len(secret) < 32:
        return None
    try:
        return UUID(hex=owner), digest(value)
    except ValueError:
        return None
