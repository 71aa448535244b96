"""What a member may do: their role's permissions and record scope, built-in or the organisation's own.

The table of an organisation's roles is cached per (organisation, access version): in this process,
then in shared state (Redis when configured), then read from the database. The version comes with the
organisation's policy, which every request reads anyway, and is bumped in the same transaction as any
role, membership or team change, so a revoked permission stops working at the next request.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from keel.access import repository
from keel.access.permissions import (
    API_KEY_PERMISSIONS,
    EVERYONE,
    ROLE_PERMISSIONS,
    ROLE_SCOPES,
    ROLES,
    Permission,
)
from keel.core.cache import get_shared_state
from keel.core.db import set_tenant_context
from keel.core.uow import UnitOfWork

SHARED_SECONDS = 24 * 3600
LOCAL_ENTRIES = 4096
_WIDTH = {"own": 0, "team": 1, "all": 2}


@dataclass(frozen=True)
class Grant:
    permissions: frozenset[Permission]
    record_scope: str  # "own", "team" or "all": see keel.core.rls.visible_to_scope


BUILT_IN: dict[str, Grant] = {role: Grant(ROLE_PERMISSIONS[role], ROLE_SCOPES[role]) for role in ROLES}
API_KEY = Grant(API_KEY_PERMISSIONS, "all")
NOTHING = Grant(frozenset(), "own")

_local: OrderedDict[tuple[UUID, int], dict[str, Grant]] = OrderedDict()


def custom_grant(permissions: Iterable[str], record_scope: str) -> Grant:
    known = {p.value for p in Permission}
    return Grant(frozenset(Permission(p) for p in permissions if p in known) | EVERYONE, record_scope)


def _shared_key(org_id: UUID, version: int) -> str:
    return f"org:roles:{org_id}:{version}"


async def _custom_roles(uow: UnitOfWork, org_id: UUID, version: int) -> dict[str, Grant]:
    state = get_shared_state()
    (cached,) = await state.get_many([_shared_key(org_id, version)])
    if cached is not None:
        stored: dict[str, list[str]] = json.loads(cached)
    else:
        if uow.org_id != org_id:
            await set_tenant_context(uow.session, org_id)
        rows = await repository.role_grants(uow.session)
        stored = {r.key: [r.record_scope, *r.permissions] for r in rows}
        await state.put(_shared_key(org_id, version), json.dumps(stored), SHARED_SECONDS)
    return {key: custom_grant(value[1:], value[0]) for key, value in stored.items()}


async def role_table(uow: UnitOfWork, org_id: UUID, access_version: int) -> Mapping[str, Grant]:
    """Every role of the organisation → its grant, as of `access_version`."""
    key = (org_id, access_version)
    table = _local.get(key)
    if table is None:
        table = {**BUILT_IN, **await _custom_roles(uow, org_id, access_version)}
        _local[key] = table
        if len(_local) > LOCAL_ENTRIES:
            _local.popitem(last=False)
    return table


def grant_for(table: Mapping[str, Grant], roles: Iterable[str]) -> Grant:
    """The union of the roles' permissions and the widest of their scopes; an unknown role adds nothing."""
    grants = [table[role] for role in roles if role in table]
    if not grants:
        return NOTHING
    permissions = frozenset().union(*(g.permissions for g in grants))
    return Grant(permissions, max((g.record_scope for g in grants), key=_WIDTH.__getitem__))
