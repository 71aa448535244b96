"""CSV imports: a request checks the file and its mapping and queues one job; the job reads the rows in
chunks, writes each chunk with its progress, and keeps a ledger of every record it created or changed;
rolling back an import undoes the whole batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from keel.core.audit_trail import record_event
from keel.core.errors import Problem
from keel.core.pagination import PageParams
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.customfields.service import definitions
from keel.imports import csvfile, repository
from keel.imports.rows import FIELDS, REQUIRED, UPSERT_KEYS
from keel.imports.schemas import ImportCreate
from keel.imports.tasks import enqueue_import
from keel.imports.writers import MODELS, RESTORED
from keel.models import Import

MAX_ROWS = 500_000


async def _check_mapping(uow: UnitOfWork, body: ImportCreate) -> None:
    fields = FIELDS[body.record_type]
    custom = await definitions(uow, body.record_type)
    unknown = [
        target
        for target in body.mapping.values()
        if target not in fields and not (target.startswith("custom.") and target[7:] in custom)
    ]
    if unknown:
        raise Problem(422, f"Not fields of {body.record_type}s: {', '.join(sorted(set(unknown)))}.")
    targets = list(body.mapping.values())
    if twice := sorted({t for t in targets if targets.count(t) > 1}):
        raise Problem(422, f"Two columns map to {', '.join(twice)}.")
    if missing := sorted(REQUIRED[body.record_type] - set(targets)):
        raise Problem(422, f"Map a column to {', '.join(missing)}: every {body.record_type} needs it.")
    if body.upsert_by is not None:
        if body.upsert_by not in UPSERT_KEYS[body.record_type]:
            raise Problem(
                422, f"{body.record_type}s are matched by {' or '.join(UPSERT_KEYS[body.record_type])}."
            )
        if body.upsert_by not in targets:
            raise Problem(422, f"upsert_by is {body.upsert_by}: map a column to it.")


async def create_import(uow: UnitOfWork, principal: Principal, body: ImportCreate) -> Import:
    await _check_mapping(uow, body)
    try:
        content = csvfile.decode(body.data())
        delimiter = body.delimiter or csvfile.sniff(content)
        columns = csvfile.header(content, delimiter)
        total = csvfile.count_rows(content, delimiter)
    except csvfile.FileProblem as exc:
        raise Problem(422, str(exc)) from exc
    if absent := sorted(set(body.mapping) - set(columns)):
        hint = (
            ""
            if len(columns) > 1
            else f" The header reads as one column with {delimiter!r}: is the delimiter right?"
        )
        raise Problem(422, f"The file has no column {', '.join(repr(a) for a in absent)}.{hint}")
    if total > MAX_ROWS:
        raise Problem(422, f"The file has {total} rows; an import takes at most {MAX_ROWS}.")
    imp = Import(
        org_id=uow.tenant,
        record_type=body.record_type,
        dry_run=body.dry_run,
        upsert_by=body.upsert_by,
        mapping=body.mapping,
        content=content,
        delimiter=delimiter,
        total_rows=total,
        requested_by=principal.user_id,
    )
    uow.session.add(imp)
    await uow.session.flush()
    await uow.session.refresh(imp)
    await record_event(
        uow,
        "import.requested",
        entity_type="import",
        entity_id=imp.id,
        after={
            "record_type": imp.record_type,
            "rows": total,
            "dry_run": imp.dry_run,
            "upsert_by": imp.upsert_by,
        },
    )
    await enqueue_import(uow, imp.id)
    return imp


async def get_import(uow: UnitOfWork, import_id: UUID, *, for_update: bool = False) -> Import:
    imp = await repository.import_by_id(uow.session, import_id, for_update=for_update)
    if imp is None:
        raise Problem(404, "No such import.")
    return imp


async def list_imports(uow: UnitOfWork, params: PageParams) -> tuple[Sequence[Import], str | None]:
    return await repository.page_of_imports(uow.session, params)


async def rollback_import(uow: UnitOfWork, import_id: UUID) -> Import:
    """Delete what the import created and put back what it changed, in one transaction."""
    imp = await get_import(uow, import_id, for_update=True)
    if imp.dry_run or imp.status not in ("completed", "failed"):
        raise Problem(
            409, f"Only a finished import that wrote records can be rolled back (this one is {imp.status})."
        )
    try:
        async with uow.session.begin_nested():
            # Deals first: they refer to contacts and accounts the import may have created.
            for record_type in ("deal", "contact", "account"):
                table = MODELS[record_type].__tablename__
                columns = ", ".join(RESTORED[table])
                await repository.restore_changed(uow, imp.id, record_type, table, columns)
                await repository.remove_created(uow, imp.id, record_type, table)
    except IntegrityError as exc:
        raise Problem(
            409, "Records this import created are now used by others (deals, links): remove those first."
        ) from exc
    imp.status, imp.finished_at = "rolled_back", datetime.now(UTC)
    await record_event(
        uow,
        "import.rolled_back",
        entity_type="import",
        entity_id=imp.id,
        after={"created_removed": imp.created, "updated_restored": imp.updated},
    )
    return imp
