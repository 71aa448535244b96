from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.idempotency import Idempotent
from keel.core.pagination import Page, PageQuery
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.imports import service
from keel.imports.schemas import ImportCreate, ImportOut

Importer = Annotated[Principal, allowed(Permission.IMPORTS_MANAGE)]

router = APIRouter(prefix="/imports", tags=["imports"], route_class=UnitOfWorkRoute)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ImportOut)
async def create_import(body: ImportCreate, principal: Importer, _: Idempotent, uow: UoW) -> ImportOut:
    """Import accounts, contacts or deals from a CSV file (UTF-8, base64 in `csv_base64`, up to 50 MB).
    The file and its mapping are checked now; the rows are imported by a job. Follow it with
    `GET /api/v1/imports/{id}`. A `dry_run` reports every row's errors and writes nothing."""
    return ImportOut.model_validate(await service.create_import(uow, principal, body))


@router.get("", response_model=Page[ImportOut])
async def list_imports(principal: Importer, uow: UoW, page: PageQuery) -> Page[ImportOut]:
    rows, next_cursor = await service.list_imports(uow, page)
    return Page(items=[ImportOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{import_id}", response_model=ImportOut)
async def get_import(import_id: UUID, principal: Importer, uow: UoW) -> ImportOut:
    """Progress (`rows_done` of `total_rows`, `percent`), counts and the rows not taken, with why."""
    return ImportOut.model_validate(await service.get_import(uow, import_id))


@router.post(
    "/{import_id}/rollback",
    response_model=ImportOut,
    responses=problem_docs(
        {409: "The import is not finished or was a dry run, or records it created are now used by others"}
    ),
)
async def rollback_import(import_id: UUID, principal: Importer, uow: UoW) -> ImportOut:
    """Undo the whole import: what it created is deleted, what it changed is put back as it was."""
    return ImportOut.model_validate(await service.rollback_import(uow, import_id))
