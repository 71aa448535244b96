"""What every API request needs to know about its organisation: the IP allowlist (the networks its API
calls and sign-ins may come from) and its plan (which sets its rate limit).

Read on every API request, so it comes from shared state (Redis, or this process) and from the
database only when missing there; saving either replaces the shared copy after the commit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from ipaddress import ip_address, ip_network
from typing import Any
from uuid import UUID

from sqlalchemy import select

from keel.core.cache import get_shared_state
from keel.core.errors import Problem
from keel.core.uow import UnitOfWork
from keel.models import Organization

CACHE_SECONDS = 300
DEFAULT_PLAN = "standard"


def _key(org_id: UUID) -> str:
    return f"org:policy:{org_id}"


@dataclass(frozen=True)
class OrgPolicy:
    ip_allowlist: list[str]
    plan: str


def permits(networks: list[str], address: str | None) -> bool:
    if not networks:
        return True
    try:
        caller = ip_address(address or "")
    except ValueError:
        return False
    return any(caller in ip_network(net) for net in networks)


def policy_of(settings: dict[str, Any]) -> OrgPolicy:
    return OrgPolicy(list(settings.get("ip_allowlist") or []), str(settings.get("plan") or DEFAULT_PLAN))


async def org_policy(uow: UnitOfWork, org_id: UUID) -> OrgPolicy:
    """The organisation's policy (the transaction must be in its tenant context to read it)."""
    state = get_shared_state()
    (cached,) = await state.get_many([_key(org_id)])
    if cached is not None:
        return OrgPolicy(**json.loads(cached))
    settings = await uow.session.scalar(select(Organization.settings).where(Organization.id == org_id))
    policy = policy_of(settings or {})
    await publish(org_id, policy)
    return policy


async def allowlist(uow: UnitOfWork, org_id: UUID) -> list[str]:
    return (await org_policy(uow, org_id)).ip_allowlist


async def publish(org_id: UUID, policy: OrgPolicy) -> None:
    """Make a saved policy effective at once for every API process."""
    await get_shared_state().put(_key(org_id), json.dumps(asdict(policy)), CACHE_SECONDS)


async def require_permitted_network(uow: UnitOfWork, org_id: UUID, address: str | None) -> OrgPolicy:
    policy = await org_policy(uow, org_id)
    if not permits(policy.ip_allowlist, address):
        raise Problem(403, "Your organisation does not allow access from this network address.")
    return policy
