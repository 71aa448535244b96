"""Passwords: argon2id hashes (parameters in ADR 0008) and a policy that refuses guessable ones.

Hashing is CPU- and memory-heavy on purpose, so it runs in worker threads and at most
`CONCURRENT_HASHES` at a time per process: a burst of logins cannot exhaust memory or stall the loop.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

# OWASP's first argon2id configuration: 46 MiB, one pass, one lane (ADR 0008).
HASHER = PasswordHasher(time_cost=1, memory_cost=47_104, parallelism=1, hash_len=32, salt_len=16)
CONCURRENT_HASHES = 4
MIN_LENGTH = 12
MAX_LENGTH = 256  # long enough for any passphrase, short enough to bound the work per attempt
MIN_STRENGTH = 3  # zxcvbn score 0 to 4: 3 means "safely unguessable" against an offline slow-hash attack

_slots = asyncio.Semaphore(CONCURRENT_HASHES)


def normalise(password: str) -> str:
    """NFKC, so the same passphrase typed on two keyboards is the same password (NIST SP 800-63B)."""
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True)
class Verdict:
    acceptable: bool
    problems: tuple[str, ...] = ()


def judge_password(password: str, *, personal: tuple[str, ...] = ()) -> Verdict:
    """Whether `password` may be set. `personal`: the user's e-mail, name… which it must not echo."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        return Verdict(False, (f"Use at least {MIN_LENGTH} characters.",))
    if len(password) > MAX_LENGTH:
        return Verdict(False, (f"Use at most {MAX_LENGTH} characters.",))
    words = [w.lower() for item in personal for w in item.replace("@", " ").replace(".", " ").split()]
    lowered = password.lower()
    if any(len(w) >= 4 and w in lowered for w in words):
        return Verdict(False, ("Do not use your name or e-mail address in your password.",))
    # zxcvbn only looks at the first 100 characters; longer passphrases are long enough on their own.
    result = zxcvbn(password[:100], user_inputs=words)
    if result["score"] < MIN_STRENGTH:
        feedback = result["feedback"]
        problems = [feedback["warning"]] if feedback.get("warning") else []
        problems += feedback.get("suggestions", [])
        return Verdict(False, tuple(problems) or ("This password is too easy to guess.",))
    return Verdict(True)


async def hash_password(password: str) -> str:
    async with _slots:
        return await asyncio.to_thread(HASHER.hash, normalise(password))


@dataclass(frozen=True)
class Check:
    valid: bool
    rehash: bool = False  # the hash uses older parameters: store a new one now that the password is known


async def verify_password(stored_hash: str | None, password: str) -> Check:
    """Check `password` against `stored_hash`. With no hash (unknown account) the same work is done
    against a dummy hash, so the answer takes as long for accounts that do not exist."""
    async with _slots:
        return await asyncio.to_thread(_verify, stored_hash, normalise(password))


def _verify(stored_hash: str | None, password: str) -> Check:
    try:
        HASHER.verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Check(valid=False)
    if stored_hash is None:
        return Check(valid=False)
    return Check(valid=True, rehash=HASHER.check_needs_rehash(stored_hash))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash("no account has this password; it only spends the same time")
