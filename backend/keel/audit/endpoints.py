from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.audit import compliance, repository
from keel.audit.exports import record_audit_export
from keel.audit.schemas import AuditEventOut, AuditFilter, ComplianceExportOut
from keel.core.db import set_tenant_context
from keel.core.errors import problem_docs, validation_problem
from keel.core.exports import csv_stream, json_array_stream
from keel.core.idempotency import Idempotent
from keel.core.openapi import AUDITED_READ, EXPORT_LIMIT, page_example
from keel.core.pagination import JsonPage, Page, PageQuery
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW, request_database

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=UnitOfWorkRoute)
compliance_router = APIRouter(prefix="/compliance-exports", tags=["audit"], route_class=UnitOfWorkRoute)
ComplianceExporter = Annotated[Principal, allowed(Permission.COMPLIANCE_EXPORT)]


async def audit_filter(
    action: Annotated[str | None, Query(max_length=100)] = None,
    entity_type: Annotated[str | None, Query(max_length=50)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="created at or after, ISO 8601 with offset")] = None,
    until: Annotated[datetime | None, Query(description="created before, ISO 8601 with offset")] = None,
) -> AuditFilter:
    try:
        return AuditFilter(
            action=action, entity_type=entity_type, entity_id=entity_id, actor=actor, since=since, until=until
        )
    except ValidationError as exc:
        raise validation_problem(exc, "The filter is invalid.") from exc


Filters = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("", response_model=Page[AuditEventOut], responses=page_example(AuditEventOut))
async def list_audit_events(
    principal: Annotated[Principal, allowed(Permission.AUDIT_READ)], uow: UoW, page: PageQuery, where: Filters
) -> JsonPage:
    """The organisation's audit trail, newest first, filtered by action, entity, actor and time."""
    return await repository.events_page(uow.session, page, where)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The rows, streamed"},
        **problem_docs(AUDITED_READ, EXPORT_LIMIT),
    },
)
async def export_audit_events(
    request: Request,
    principal: Annotated[Principal, allowed(Permission.AUDIT_EXPORT)],
    uow: UoW,
    where: Filters,
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse:
    """Every matching row in chain order, as CSV (formula-safe) or a JSON array. The export is audited."""
    await record_audit_export(uow, format, where)
    org_id, db = uow.tenant, request_database(request)

    async def rows() -> AsyncIterator[dict[str, Any]]:
        # Read after the request's transaction committed, on a connection of its own, in the same tenant.
        async with db.sessions() as session:
            await set_tenant_context(session, org_id)
            async for row in repository.stream_events(session, where):
                yield row

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if format == "csv":
        body, media = csv_stream(repository.EXPORT_COLUMNS, rows()), "text/csv; charset=utf-8"
    else:
        body, media = json_array_stream(rows()), "application/json"
    disposition = f'attachment; filename="audit-{stamp}.{format}"'
    return StreamingResponse(body, media_type=media, headers={"Content-Disposition": disposition})


@compliance_router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ComplianceExportOut,
    responses=problem_docs(EXPORT_LIMIT),
)
async def request_compliance_export(
    principal: ComplianceExporter, _: Idempotent, uow: UoW
) -> ComplianceExportOut:
    """Start building a zip of the audit trail, the members and the permission matrix, with a manifest
    of SHA-256 hashes. Poll the export until its status is `done`, then download it."""
    return ComplianceExportOut.model_validate(await compliance.request_export(uow, principal.actor))


@compliance_router.get("/{export_id}", response_model=ComplianceExportOut)
async def get_compliance_export(
    export_id: UUID, principal: ComplianceExporter, uow: UoW
) -> ComplianceExportOut:
    return ComplianceExportOut.model_validate(await compliance.get_export(uow, export_id))


@compliance_router.get(
    "/{export_id}/archive",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The zip"},
        **problem_docs({409: "The export is not done: it is pending or failed"}, AUDITED_READ),
    },
)
async def download_compliance_export(export_id: UUID, principal: ComplianceExporter, uow: UoW) -> Response:
    """The zip, once built (409 before). Each download is audited."""
    archive = await compliance.download(uow, export_id)
    disposition = f'attachment; filename="compliance-{export_id}.zip"'
    return Response(archive, media_type="application/zip", headers={"Content-Disposition": disposition})
