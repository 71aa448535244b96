"""Exports recorded in the audit trail: a CRM list as CSV (`crm_export.<name>`, with the filter used),
and the audit trail itself (`audit.exported`), limited per organisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select

from keel.core.audit_trail import record_event
from keel.core.crm_export import csv_export
from keel.core.principal import Principal
from keel.core.ratelimit import count_export
from keel.core.uow import UnitOfWork, request_database


async def audited_export(
    request: Request,
    uow: UnitOfWork,
    principal: Principal,
    *,
    name: str,
    entity_type: str,
    where: BaseModel,
    statement: Select[Any],
    columns: list[str],
    shape: Callable[..., dict[str, Any]],
) -> StreamingResponse:
    """`statement`'s rows as the caller sees them (keel.core.crm_export), the export audited."""
    await record_event(
        uow, f"crm_export.{name}", entity_type=entity_type, after={"filter": where.model_dump(mode="json")}
    )
    return await csv_export(
        request_database(request),
        org_id=uow.tenant,
        user_id=principal.user_id,
        scope=principal.record_scope,
        statement=statement,
        columns=columns,
        name=name,
        shape=shape,
    )


async def record_audit_export(uow: UnitOfWork, format: str, where: BaseModel) -> None:
    """An export of the trail counts against the organisation's export limit and is itself audited."""
    await count_export(uow.tenant)
    await record_event(
        uow,
        "audit.exported",
        entity_type="audit_trail",
        after={"format": format, "filter": where.model_dump(mode="json", exclude_none=True)},
    )
