"""An organisation's IP allowlist: the networks its API calls and sign-ins may come from.

Checked on every API request, so the list is read from shared state (Redis, or this process) and from
the database only when missing there; saving the list replaces the shared copy at once.
"""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_network
from uuid import UUID

from sqlalchemy import select

from keel.core.cache import get_shared_state
from keel.core.errors import Problem
from keel.core.uow import UnitOfWork
from keel.models import Organization

CACHE_SECONDS = 300


def _key(org_id: UUID) -> str:
    return f"org:ip-allowlist:{org_id}"


def permits(networks: list[str], address: str | None) -> bool:
    if not networks:
        return True
    try:
        caller = ip_address(address or "")
    except ValueError:
        return False
    return any(caller in ip_network(net) for net in networks)


async def allowlist(uow: UnitOfWork, org_id: UUID) -> list[str]:
    """The organisation's list (the transaction must be in its tenant context to read it)."""
    state = get_shared_state()
    (cached,) = await state.get_many([_key(org_id)])
    if cached is not None:
        networks: list[str] = json.loads(cached)
        return networks
    settings = await uow.session.scalar(select(Organization.settings).where(Organization.id == org_id))
    networks = list((settings or {}).get("ip_allowlist") or [])
    await state.put(_key(org_id), json.dumps(networks), CACHE_SECONDS)
    return networks


async def publish(org_id: UUID, networks: list[str]) -> None:
    """Make a saved list effective at once for every API process."""
    await get_shared_state().put(_key(org_id), json.dumps(networks), CACHE_SECONDS)


async def require_permitted_network(uow: UnitOfWork, org_id: UUID, address: str | None) -> None:
    if not permits(await allowlist(uow, org_id), address):
        raise Problem(403, "Your organisation does not allow access from this network address.")
