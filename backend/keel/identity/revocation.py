"""The revocation list the resource side consults: one round trip to shared state, no database.

Access tokens are short (ten minutes) and self-contained; when something must stop them early (a
token family revoked, a user disabled or signed out everywhere, a membership removed) a mark is kept
for one access-token lifetime, and any token issued at or before the mark is refused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from keel.core.cache import SharedState
from keel.identity.tokens import ACCESS_TOKEN_SECONDS, CLOCK_SKEW_SECONDS

MARK_SECONDS = ACCESS_TOKEN_SECONDS + CLOCK_SKEW_SECONDS


def family_key(family_id: UUID | str) -> str:
    return f"revoked:family:{family_id}"


def subject_key(user_id: UUID | str) -> str:
    return f"revoked:subject:{user_id}"


def member_key(org_id: UUID | str, user_id: UUID | str) -> str:
    return f"revoked:member:{org_id}:{user_id}"


async def mark_revoked(state: SharedState, keys: list[str]) -> None:
    """Refuse every access token under `keys` issued up to now (to the second, inclusive)."""
    now = str(int(time.time()))
    for key in keys:
        await state.put(key, now, MARK_SECONDS)


def revocation_keys(claims: Mapping[str, Any]) -> list[str]:
    """The marks that could refuse this token (read with the request's other shared state)."""
    keys = [subject_key(claims["sub"]), member_key(claims["org_id"], claims["sub"])]
    if sid := claims.get("sid"):
        keys.append(family_key(sid))
    return keys


def revoked_by(claims: Mapping[str, Any], marks: list[str | None]) -> bool:
    issued_at = int(claims["iat"])
    return any(mark is not None and issued_at <= int(mark) for mark in marks)


async def is_revoked(state: SharedState, claims: Mapping[str, Any]) -> bool:
    return revoked_by(claims, await state.get_many(revocation_keys(claims)))
