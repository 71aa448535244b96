"""The audit trail's writing side: one row per state change, in the transaction of the change.

Every layer records through `record_event` (the unit of work supplies who, from where, in which
organisation); `keel.audit` reads, verifies, exports and keeps the trail. An action's category, which
sets how long its rows are kept (`KEEL_AUDIT_RETENTION_MONTHS`) and which hash chain they join, is
decided by its first word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from keel.core.uow import UnitOfWork
from keel.models import AuditEvent

CATEGORIES = ("money", "security", "access", "general")

_BY_SUBJECT = {
    # money: what an accountant or tax office may ask about years later
    "invoice": "money",
    "payment": "money",
    "refund": "money",
    "receipt": "money",
    "reconciliation": "money",
    "payout": "money",
    # security: who may do what, and how they signed in
    "token": "security",
    "api_key": "security",
    "role": "security",
    "team": "security",
    "member": "security",
    "invitation": "security",
    "organization": "security",
    "profile": "security",
    # access: reads and exports of data
    "audit": "access",
    "compliance_export": "access",
    "report": "access",
    "crm_export": "access",
}


def category_of(action: str) -> str:
    return _BY_SUBJECT.get(action.split(".", 1)[0], "general")


SENSITIVE_FIELDS = frozenset({"secret", "secret_hash", "password", "token"})


def _redacted(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: ("[redacted]" if k in SENSITIVE_FIELDS else v) for k, v in values.items()}


def snapshot(record: object, fields: Sequence[str]) -> dict[str, Any]:
    """A record's `fields` as JSON values, for an audit row's before and after."""
    values: dict[str, Any] = {}
    for field in fields:
        value = getattr(record, field)
        if isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, list):
            value = list(value)
        values[field] = value
    return values


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
        category=category_of(action),
        actor=uow.actor or "system",
        client_id=uow.client_id,
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
