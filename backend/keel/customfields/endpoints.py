from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.openapi import declare_answers
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.customfields import service
from keel.customfields.schemas import FieldCreate, FieldOut, FieldPatch, custom_query

FieldsRead = Annotated[Principal, allowed(Permission.CUSTOM_FIELDS_READ)]
FieldsManage = Annotated[Principal, allowed(Permission.CUSTOM_FIELDS_MANAGE)]

router = APIRouter(prefix="/custom-fields", tags=["custom fields"], route_class=UnitOfWorkRoute)

# The lists that filter by custom fields (`cf.<key>=<value>`) check them against the organisation's fields.
declare_answers(
    custom_query,
    {400: "A `cf.<key>` filter names no custom field of the record type, or its value has the wrong type"},
)


@router.get("", response_model=list[FieldOut])
async def list_fields(principal: FieldsRead, uow: UoW) -> list[FieldOut]:
    """The organisation's own fields on accounts, contacts, deals and leads."""
    return [FieldOut.model_validate(f) for f in await service.list_fields(uow)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FieldOut,
    responses={
        **sends_etag(201),
        **problem_docs({409: "The record type already has a field with this key, or its maximum of fields"}),
    },
)
async def create_field(
    body: FieldCreate, principal: FieldsManage, _: Idempotent, uow: UoW, response: Response
) -> FieldOut:
    """Add a typed field (text, number, date, boolean, or select with its options) to a record type.
    Records then take its value under `custom.<key>`, and lists filter by `cf.<key>=<value>`."""
    field = await service.create_field(uow, body)
    response.headers["ETag"] = etag(field.version)
    return FieldOut.model_validate(field)


@router.patch(
    "/{field_id}",
    response_model=FieldOut,
    responses=problem_docs({409: "Records still hold an option the change removes"}),
)
async def update_field(
    field_id: UUID,
    body: FieldPatch,
    principal: FieldsManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> FieldOut:
    """Rename a field or change a select field's options (an option still held by records stays)."""
    field = await service.update_field(uow, field_id, body, expected_version=required_version(if_match))
    response.headers["ETag"] = etag(field.version)
    return FieldOut.model_validate(field)


@router.delete("/{field_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_field(field_id: UUID, principal: FieldsManage, uow: UoW) -> Response:
    """Remove a field and its values from every record."""
    await service.delete_field(uow, field_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
