"""Custom fields: an organisation defines typed fields per record type (account, contact, deal, lead);
records carry their values in `custom` (JSONB). Values are checked against the definitions when
written and compared typed when filtered."""

from __future__ import annotations

import math
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement

from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.uow import UnitOfWork
from keel.customfields import repository
from keel.customfields.schemas import FieldCreate, FieldPatch
from keel.models import Account, Contact, CustomField, Deal, Lead

MAX_FIELDS = 100
MAX_TEXT = 1_000
MAX_NUMBER = 1e15
RECORDS: dict[str, type[Account | Contact | Deal | Lead]] = {
    "account": Account,
    "contact": Contact,
    "deal": Deal,
    "lead": Lead,
}


async def definitions(uow: UnitOfWork, record_type: str) -> dict[str, CustomField]:
    return await repository.fields_of(uow.session, record_type)


def _typed(field: CustomField, value: Any) -> Any:
    """The value as stored, or ValueError saying what the field takes."""
    match field.type:
        case "text" if isinstance(value, str) and len(value) <= MAX_TEXT:
            return value
        case "number" if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and abs(value) < MAX_NUMBER:
                return value
        case "boolean" if isinstance(value, bool):
            return value
        case "date" if isinstance(value, str):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        case "select" if value in field.options:
            return value
    takes = {
        "text": f"text of at most {MAX_TEXT} characters",
        "number": "a number",
        "boolean": "true or false",
        "date": "a date such as 2027-03-31",
        "select": "one of " + ", ".join(repr(o) for o in field.options),
    }[field.type]
    raise ValueError(f"custom.{field.key} takes {takes}")


def check_values(
    fields: dict[str, CustomField], record_type: str, change: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """`current` with `change` applied (a `null` removes a value), every value checked; ValueError
    names the first that does not fit."""
    values = dict(current or {})
    for key, value in change.items():
        if key not in fields:
            raise ValueError(f"custom.{key} is not a field of this organisation's {record_type}s")
        if value is None:
            values.pop(key, None)
        else:
            values[key] = _typed(fields[key], value)
    return values


async def checked_values(
    uow: UnitOfWork, record_type: str, change: dict[str, Any], current: dict[str, Any] | None = None
) -> dict[str, Any]:
    if not change:
        return dict(current or {})
    try:
        return check_values(await definitions(uow, record_type), record_type, change, current)
    except ValueError as exc:
        raise Problem(422, str(exc)) from exc


async def custom_filter(
    uow: UnitOfWork, record_type: str, column: Any, wanted: dict[str, str]
) -> list[ColumnElement[bool]]:
    """Conditions for `?cf.<key>=<value>`: each value read by its field's type, matched exactly."""
    if not wanted:
        return []
    fields = await definitions(uow, record_type)
    conditions = []
    for key, raw in wanted.items():
        if key not in fields:
            raise Problem(400, f"cf.{key} is not a field of this organisation's {record_type}s.")
        try:
            value = _typed(fields[key], value_from_text(fields[key].type, raw))
        except ValueError as exc:
            raise Problem(400, f"cf.{key}: {exc}") from exc
        conditions.append(column.contains({key: value}))
    return conditions


def value_from_text(field_type: str, raw: str) -> Any:
    """A value written as text (a query parameter, a CSV cell), read by its field's type."""
    if field_type == "number":
        try:
            return int(raw)
        except ValueError:
            return float(raw)  # JSON numbers compare by value: 5.0 finds 5
    if field_type == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("takes true or false")
        return raw == "true"
    return raw


def _snapshot(field: CustomField) -> dict[str, Any]:
    return snapshot(field, ("record_type", "key", "label", "type", "options"))


async def create_field(uow: UnitOfWork, body: FieldCreate) -> CustomField:
    existing = await definitions(uow, body.record_type)
    if len(existing) >= MAX_FIELDS:
        raise Problem(409, f"An organisation can have at most {MAX_FIELDS} custom fields per record type.")
    if body.key in existing:
        raise Problem(409, f"The {body.record_type}s already have a field {body.key!r}.")
    field = CustomField(org_id=uow.tenant, **body.model_dump())
    uow.session.add(field)
    await uow.session.flush()
    await uow.session.refresh(field)
    await record_event(
        uow, "custom_field.created", entity_type="custom_field", entity_id=field.id, after=_snapshot(field)
    )
    return field


async def list_fields(uow: UnitOfWork) -> list[CustomField]:
    return await repository.all_fields(uow.session)


async def _field(uow: UnitOfWork, field_id: UUID) -> CustomField:
    field = await repository.field_by_id_locked(uow.session, field_id)
    if field is None:
        raise Problem(404, "No such custom field.")
    return field


async def _in_use(uow: UnitOfWork, field: CustomField, value: Any | None = None) -> int:
    """How many records hold a value of `field` (or this value), the caller's scope notwithstanding."""
    model = RECORDS[field.record_type]
    async with uow.whole_organisation():
        return await repository.count_records_holding(uow.session, model, field.key, value)


async def update_field(
    uow: UnitOfWork, field_id: UUID, patch: FieldPatch, *, expected_version: int
) -> CustomField:
    field = await _field(uow, field_id)
    if field.version != expected_version:
        raise stale()
    before = _snapshot(field)
    if patch.label is not None:
        field.label = patch.label
    if patch.options is not None:
        if field.type != "select":
            raise Problem(422, "options are for select fields.")
        if not patch.options or len(set(patch.options)) != len(patch.options):
            raise Problem(422, "A select field needs options, each different.")
        for removed in set(field.options) - set(patch.options):
            if held := await _in_use(uow, field, removed):
                raise Problem(409, f"{held} record(s) hold {removed!r}: change them before removing it.")
        field.options = list(patch.options)
    old, new = changed_fields(before, _snapshot(field))
    if new:
        field.version += 1
        await record_event(
            uow, "custom_field.updated", entity_type="custom_field", entity_id=field.id, before=old, after=new
        )
    return field


async def delete_field(uow: UnitOfWork, field_id: UUID) -> None:
    """The field goes, and so do its values on every record of the organisation."""
    field = await _field(uow, field_id)
    held = await _in_use(uow, field)
    async with uow.whole_organisation():
        await repository.clear_values(uow.session, RECORDS[field.record_type], field.key)
    await uow.session.delete(field)
    await record_event(
        uow,
        "custom_field.deleted",
        entity_type="custom_field",
        entity_id=field_id,
        before={**_snapshot(field), "records_cleared": held},
    )
