"""Growing delays for guessing: per account from one address, per address, per account overall.

Each failure counts in a 15-minute window. Past a free allowance, the next attempt must wait
2^(failures - allowance) seconds, capped. No key ever locks for good, and an attacker elsewhere
cannot lock the owner out: the owner's own address has its own per-account counter, and the
account-wide counter only starts slowing at a volume no single guesser reaches (and is capped low).
Unknown accounts are counted exactly like known ones, so the answers do not tell them apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from keel.core.cache import SharedState
from keel.core.errors import Problem

WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class Rule:
    name: str
    allowance: int
    cap_seconds: int


ACCOUNT_FROM_ADDRESS = Rule("acct-ip", allowance=5, cap_seconds=15 * 60)
ADDRESS = Rule("ip", allowance=30, cap_seconds=15 * 60)
ACCOUNT = Rule("acct", allowance=100, cap_seconds=60)


def _keys(scope: str, account: str | None, address: str) -> list[tuple[Rule, str]]:
    if account is None:  # nothing to guess per account (e.g. 256-bit tokens): per address only
        return [(ADDRESS, f"throttle:{scope}:ip:{address}")]
    account_id = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
    return [
        (ACCOUNT_FROM_ADDRESS, f"throttle:{scope}:acct-ip:{account_id}:{address}"),
        (ADDRESS, f"throttle:{scope}:ip:{address}"),
        (ACCOUNT, f"throttle:{scope}:acct:{account_id}"),
    ]


async def check(state: SharedState, scope: str, account: str | None, address: str) -> None:
    """Refuse with 429 and Retry-After while any delay is running."""
    keys = [f"{key}:wait" for _, key in _keys(scope, account, address)]
    waits = [int(v) for v in await state.get_many(keys) if v is not None]
    if waits:
        retry = max(1, max(waits))
        raise Problem(
            429,
            f"Too many attempts. Try again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )


async def failed(state: SharedState, scope: str, account: str | None, address: str) -> None:
    for rule, key in _keys(scope, account, address):
        count = await state.incr(key, WINDOW_SECONDS)
        if count > rule.allowance:
            delay = min(2 ** min(count - rule.allowance, 20), rule.cap_seconds)
            await state.put(f"{key}:wait", str(delay), delay)


async def succeeded(state: SharedState, scope: str, account: str, address: str) -> None:
    """The owner got in from here: forget this address's failures on this account."""
    _, key = _keys(scope, account, address)[0]
    await state.delete(key)
    await state.delete(f"{key}:wait")
