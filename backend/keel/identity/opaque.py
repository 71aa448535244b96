"""Opaque credentials that name their owner: `<owner uuid hex>.<256 random bits>`, kept as SHA-256.

The owner part (an organisation or a user, never secret) lets the server enter the right tenant or
user context before it looks the credential up under row-level security; the lookup itself is by
hash, so a forged owner part finds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

MAX_LENGTH = 120


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def new_credential(owner: UUID) -> tuple[str, bytes]:
    """The value to hand out once, and the hash to store."""
    value = f"{owner.hex}.{secrets.token_urlsafe(32)}"
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
