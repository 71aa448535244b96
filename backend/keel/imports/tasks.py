"""The import job: one per import, reading the file once and writing it a chunk per transaction, each
with its progress, so the API shows how far it is and a stopped job resumes where it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

import structlog

from keel.assignment.service import Assigner
from keel.core.audit_trail import record_event
from keel.core.db import runtime_database
from keel.core.jobs import enqueue, job_app
from keel.core.uow import UnitOfWork, job_unit_of_work
from keel.customfields.service import definitions
from keel.deals.repository import default_currency
from keel.imports import csvfile, repository
from keel.imports.rows import Context, Prepared, RowError, prepare
from keel.imports.writers import write_chunk
from keel.models import Import

CHUNK = 2_000
MAX_ERRORS = 1_000  # kept on the import; the count goes on
log = structlog.get_logger("keel.imports")


async def enqueue_import(uow: UnitOfWork, import_id: UUID) -> None:
    await enqueue(uow, run_import, import_id=str(import_id))


async def _context(uow: UnitOfWork, imp: Import) -> Context:
    members = await repository.member_ids_by_email(uow.session)
    currency = await default_currency(uow.session, imp.org_id)
    ctx = Context(
        record_type=imp.record_type,
        members=members,
        requester=imp.requested_by,
        custom_fields=await definitions(uow, imp.record_type),
        assigner=await Assigner.load(uow, imp.record_type),
        currency=currency or "EUR",
    )
    if imp.record_type == "deal":
        for name, is_default, stage in await repository.stages_with_pipelines(uow.session):
            ctx.stages[(name.lower(), stage.name.lower())] = stage
            first = ctx.first_stages.get(name.lower())
            if stage.outcome == "open" and (first is None or stage.position < first.position):
                ctx.first_stages[name.lower()] = stage
            if is_default:
                ctx.default_pipeline = name.lower()
    return ctx


async def _run_chunk(uow: UnitOfWork, imp: Import, rows: list[tuple[int, dict[str, str]]], last: int) -> bool:
    """Check and write one chunk (a dry run rolls its writes back) and record the progress. True when the
    file is done."""
    # Foreign-key checks keep the plan made when a table was small; a first import fills it by the
    # thousand, so plan each check for the table as it is now.
    await repository.plan_for_tables_as_they_are(uow.session)
    ctx = await _context(uow, imp)
    prepared: list[Prepared] = []
    errors: list[dict[str, Any]] = []
    for number, cells in rows:
        try:
            prepared.append(prepare(ctx, number, cells, imp.mapping, imp.upsert_by))
        except RowError as error:
            errors.append({"row": number, "field": error.field, "message": str(error)})
    async with uow.savepoint(keep=not imp.dry_run):
        written = await write_chunk(uow, imp, ctx, prepared)
    errors = sorted(errors + written.errors, key=lambda e: int(e["row"]))
    imp.created += written.created
    imp.updated += written.updated
    imp.failed += len(errors)
    imp.errors = (imp.errors + errors)[:MAX_ERRORS]
    imp.rows_done = last
    done = last >= imp.total_rows
    if done:
        imp.status, imp.finished_at = "completed", datetime.now(UTC)
        await record_event(
            uow,
            "import.completed",
            entity_type="import",
            entity_id=imp.id,
            after={
                "created": imp.created,
                "updated": imp.updated,
                "failed": imp.failed,
                "dry_run": imp.dry_run,
            },
        )
    return done


# Not retried: a failed import is marked failed (roll it back, fix the file, import again). A worker that
# stops mid-way leaves it running; the stalled job, picked up again, resumes after the last chunk.
@job_app.task(name="crm.run_import", queue="default")
async def run_import(*, org_id: str, import_id: str) -> None:
    db, org = runtime_database(), UUID(org_id)
    structlog.contextvars.bind_contextvars(org_id=org_id, task="crm.run_import", import_id=import_id)
    async with job_unit_of_work(db, org) as uow:
        imp = await repository.import_to_run(uow.session, UUID(import_id))
        if imp is None or imp.status not in ("queued", "running"):
            return
        content = await repository.file_of_import(uow.session, imp.id)
        delimiter, start = imp.delimiter, imp.rows_done
        imp.status = "running"
    reader = csvfile.rows(content, delimiter, start=start)
    try:
        while True:
            rows = list(islice(reader, CHUNK))
            last = rows[-1][0] - 1 if rows else 0
            async with job_unit_of_work(db, org) as uow:
                imp = await repository.import_locked(uow.session, UUID(import_id))
                if await _run_chunk(uow, imp, rows, max(last, imp.rows_done) if rows else imp.total_rows):
                    return
    except Exception:
        log.exception("import_failed")
        async with job_unit_of_work(db, org) as uow:
            imp = await repository.import_locked(uow.session, UUID(import_id))
            imp.status, imp.finished_at = "failed", datetime.now(UTC)
            await record_event(
                uow,
                "import.failed",
                entity_type="import",
                entity_id=imp.id,
                after={"rows_done": imp.rows_done},
            )
        raise
