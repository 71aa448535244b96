"""What every API request needs to know about its organisation: the IP allowlist (the networks its API
calls and sign-ins may come from) and its plan (which sets its rate limit).

Read on every API request, so it comes from shared state (Redis, or this process) and from the
database only when missing there; saving either replaces the shared copy after the commit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address, ip_network
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from keel.core.cache import get_shared_state
from keel.core.db import set_tenant_context
from keel.core.errors import Problem
from keel.core.uow import UnitOfWork
from keel.models import Organization

CACHE_SECONDS = 300
DEFAULT_PLAN = "standard"


def policy_key(org_id: UUID) -> str:
    return f"org:policy:{org_id}"


@dataclass(frozen=True)
class OrgPolicy:
    ip_allowlist: list[str]
    plan: str
    # Bumped by every role, membership and team change: the key of the cached role → permission table.
    access_version: int = 1
    session_hours: int | None = None  # how old a browser sign-in may be to get tokens here


def permits(networks: list[str], address: str | None) -> bool:
    if not networks:
        return True
    try:
        caller = ip_address(address or "")
    except ValueError:
        return False
    return any(caller in ip_network(net) for net in networks)


def policy_of(settings: dict[str, Any], access_version: int) -> OrgPolicy:
    return OrgPolicy(
        list(settings.get("ip_allowlist") or []),
        str(settings.get("plan") or DEFAULT_PLAN),
        access_version,
        settings.get("session_hours"),
    )


async def org_policy(uow: UnitOfWork, org_id: UUID) -> OrgPolicy:
    """The organisation's policy: from shared state, else read (in the organisation's context) and shared."""
    (cached,) = await get_shared_state().get_many([policy_key(org_id)])
    return await policy_from(uow, org_id, cached)


async def policy_from(uow: UnitOfWork, org_id: UUID, cached: str | None) -> OrgPolicy:
    """The policy from its shared copy `cached` (read by the caller), else from the database, then shared."""
    if cached is not None:
        return OrgPolicy(**json.loads(cached))
    if uow.org_id != org_id:
        await set_tenant_context(uow.session, org_id)
    row = (
        await uow.session.execute(
            select(Organization.settings, Organization.access_version).where(Organization.id == org_id)
        )
    ).first()
    policy = policy_of(row.settings, row.access_version) if row else OrgPolicy([], DEFAULT_PLAN)
    await get_shared_state().put(policy_key(org_id), json.dumps(asdict(policy)), CACHE_SECONDS)
    return policy


async def bump_access_version(uow: UnitOfWork) -> None:
    """Roles, memberships or teams of the organisation changed: every process drops its cached role
    table at the next request, once this commits."""
    await uow.session.execute(
        update(Organization)
        .where(Organization.id == uow.tenant)
        .values(access_version=Organization.access_version + 1)
    )
    renew_after_commit(uow, uow.tenant)


async def allowlist(uow: UnitOfWork, org_id: UUID) -> list[str]:
    return (await org_policy(uow, org_id)).ip_allowlist


def sign_in_too_old(policy: OrgPolicy, signed_in_at: datetime) -> bool:
    """Whether a browser sign-in is older than the organisation allows for getting tokens."""
    return policy.session_hours is not None and signed_in_at < datetime.now(UTC) - timedelta(
        hours=policy.session_hours
    )


def renew_after_commit(uow: UnitOfWork, org_id: UUID) -> None:
    """Make a changed policy effective for every API process at their next request, once the change
    commits: the shared copy is dropped (not replaced, so two changes committing close together
    cannot leave the older one in place) and the next request reads the committed row."""
    uow.after_commit(lambda: get_shared_state().delete(policy_key(org_id)))


def require_permitted_network(policy: OrgPolicy, address: str | None) -> None:
    if not permits(policy.ip_allowlist, address):
        raise Problem(403, "Your organisation does not allow access from this network address.")
