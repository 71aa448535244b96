"""Compliance exports: what an auditor asks for, in one zip, built by a job.

- `audit-events.csv`: the whole audit trail in chain order, with each row's hash (formula-safe CSV);
- `members.csv`: every member with their role, second factor, teams, when they joined and last signed in;
- `permission-matrix.csv`: every role (built-in and the organisation's own) against every permission, and
  which records each role sees;
- `manifest.json`: the organisation, when and for whom it was built, the head of each audit chain, and
  each file's SHA-256, size and row count, so the files can be checked after they leave Keel.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from keel.access.permissions import Permission
from keel.access.service import list_roles
from keel.audit import repository
from keel.audit.schemas import AuditFilter
from keel.core.audit_trail import record_event
from keel.core.errors import Problem
from keel.core.exports import csv_line
from keel.core.jobs import enqueue, tenant_task
from keel.core.ratelimit import count_export
from keel.core.uow import UnitOfWork
from keel.models import ComplianceExport

log = structlog.get_logger("keel.audit")
MEMBER_COLUMNS = ["user_id", "email", "name", "role", "mfa", "teams", "joined_at", "last_login_at"]


class _Archive:
    """A zip being written, remembering each file's hash, size and row count for the manifest."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.zip = zipfile.ZipFile(self.buffer, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []

    def add(
        self, name: str, lines: list[str] | None = None, *, data: bytes | None = None, rows: int = 0
    ) -> None:
        content = data if data is not None else "".join(lines or []).encode()
        self.zip.writestr(name, content)
        self.files.append(
            {"name": name, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content), "rows": rows}
        )

    def close(self) -> bytes:
        self.zip.close()
        return self.buffer.getvalue()


async def _audit_lines(uow: UnitOfWork) -> list[str]:
    lines = [csv_line(repository.EXPORT_COLUMNS)]
    async for row in repository.stream_events(uow.session, AuditFilter()):
        lines.append(csv_line(row.get(c) for c in repository.EXPORT_COLUMNS))
    return lines


async def _member_lines(uow: UnitOfWork) -> list[str]:
    teams = await repository.team_names_by_member(uow.session)
    rows = await repository.members_by_email(uow.session)
    lines = [csv_line(MEMBER_COLUMNS)]
    for membership, user in rows:
        lines.append(
            csv_line(
                [
                    user.id,
                    user.email,
                    user.name,
                    membership.role,
                    "yes" if user.has_mfa else "no",
                    "; ".join(sorted(teams.get(user.id, []))),
                    membership.created_at.isoformat(),
                    user.last_login_at.isoformat() if user.last_login_at else "",
                ]
            )
        )
    return lines


async def _matrix_lines(uow: UnitOfWork) -> list[str]:
    roles = await list_roles(uow)
    lines = [csv_line(["role", "name", "built_in", "record_scope", *(p.value for p in Permission)])]
    for role in roles:
        marks = ["yes" if p in role.permissions else "" for p in Permission]
        lines.append(
            csv_line([role.key, role.name, "yes" if role.built_in else "no", role.record_scope, *marks])
        )
    return lines


async def build_archive(uow: UnitOfWork, requested_by: str) -> tuple[bytes, dict[str, Any]]:
    """The zip and its manifest, read in one transaction (one consistent snapshot of the organisation)."""
    org = await repository.organization_by_id(uow.session, uow.tenant)
    assert org is not None
    heads = await repository.audit_chain_head_hashes(uow.session)
    audit, members, matrix = await _audit_lines(uow), await _member_lines(uow), await _matrix_lines(uow)
    archive = _Archive()  # after every read: a failed read leaves no half-written zip behind
    archive.add("audit-events.csv", audit, rows=len(audit) - 1)
    archive.add("members.csv", members, rows=len(members) - 1)
    archive.add("permission-matrix.csv", matrix, rows=len(matrix) - 1)
    manifest = {
        "organization": {"id": str(org.id), "slug": org.slug, "name": org.name},
        "generated_at": datetime.now(UTC).isoformat(),
        "requested_by": requested_by,
        "audit_chain_heads": {h.category: {"seq": h.seq, "hash": h.hash.hex()} for h in heads},
        "files": list(archive.files),
    }
    archive.add("manifest.json", data=json.dumps(manifest, indent=2).encode())
    return archive.close(), manifest


async def request_export(uow: UnitOfWork, requested_by: str) -> ComplianceExport:
    """Queue the export; it counts against the organisation's export limit like every export."""
    await count_export(uow.tenant)
    export = ComplianceExport(org_id=uow.tenant, requested_by=requested_by, status="pending")
    uow.session.add(export)
    await uow.session.flush()
    await record_event(
        uow, "compliance_export.requested", entity_type="compliance_export", entity_id=export.id
    )
    await enqueue(uow, build_compliance_export, export_id=str(export.id))
    return export


async def get_export(uow: UnitOfWork, export_id: UUID) -> ComplianceExport:
    export = await repository.compliance_export_by_id(uow.session, export_id)
    if export is None:
        raise Problem(404, "No such compliance export.")
    return export


async def download(uow: UnitOfWork, export_id: UUID) -> bytes:
    export = await get_export(uow, export_id)
    archive = await repository.compliance_export_archive(uow.session, export_id)
    if export.status != "done" or archive is None:
        raise Problem(409, f"The export is {export.status}, not ready to download.")
    await record_event(
        uow, "compliance_export.downloaded", entity_type="compliance_export", entity_id=export_id
    )
    return archive


@tenant_task("audit.build_compliance_export")
async def build_compliance_export(uow: UnitOfWork, *, export_id: str) -> None:
    export = await repository.compliance_export_locked(uow.session, UUID(export_id))
    if export is None or export.status != "pending":  # a retry after it was already built
        return
    try:
        async with uow.session.begin_nested():  # a failure rolls back to here and is recorded below
            archive, manifest = await build_archive(uow, export.requested_by)
    except Exception:
        log.exception("compliance_export_failed", export_id=export_id)
        export.status, export.finished_at = "failed", datetime.now(UTC)
        await record_event(
            uow, "compliance_export.failed", entity_type="compliance_export", entity_id=export.id
        )
        return
    export.archive, export.manifest = archive, manifest
    export.status, export.finished_at = "done", datetime.now(UTC)
    await record_event(
        uow,
        "compliance_export.completed",
        entity_type="compliance_export",
        entity_id=export.id,
        after={"bytes": len(archive), "files": [f["name"] for f in manifest["files"]]},
    )
