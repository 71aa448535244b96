"""The audit trail: one row per state change, written in the transaction of the change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keel.core.uow import UnitOfWork
from keel.models import AuditEvent

SENSITIVE_FIELDS = frozenset({"secret", "secret_hash", "password", "token"})


def _redacted(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: ("[redacted]" if k in SENSITIVE_FIELDS else v) for k, v in values.items()}


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, from each side."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


async def record_event(
    uow: UnitOfWork,
    action: str,
    *,
    entity_type: str,
    entity_id: object | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        org_id=uow.tenant,
        actor=uow.actor or "system",
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        request_id=uow.request_id,
        ip=uow.client_ip,
        user_agent=uow.user_agent,
        before=_redacted(before),
        after=_redacted(after),
    )
    uow.session.add(event)
    await uow.session.flush()
    return event
