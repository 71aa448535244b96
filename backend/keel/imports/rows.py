"""From a CSV row to the values of an account, contact or deal: each row checked by the same schemas the
API uses, with a clear message per row that cannot be taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError

from keel.accounts.schemas import AccountCreate
from keel.assignment.service import Assigner
from keel.contacts.schemas import ContactCreate
from keel.core.errors import Problem
from keel.core.money import CURRENCIES, MAX_MINOR_UNITS, minor_unit_digits
from keel.core.phone import normalise_phone
from keel.customfields.service import check_values, value_from_text
from keel.deals.schemas import DealCreate
from keel.models import CustomField, Stage

# The fields a column can map to, per record type (custom fields map as `custom.<key>`).
FIELDS: dict[str, frozenset[str]] = {
    "account": frozenset(
        {
            "external_id",
            "name",
            "domain",
            "industry",
            "size",
            "country",
            "lifecycle_stage",
            "owner_email",
            "tags",
        }
    ),
    "contact": frozenset(
        {
            "external_id",
            "first_name",
            "last_name",
            "title",
            "email",
            "phone",
            "country",
            "owner_email",
            "tags",
            "account_external_id",
            "account_domain",
        }
    ),
    "deal": frozenset(
        {
            "external_id",
            "name",
            "account_external_id",
            "account_domain",
            "amount",
            "currency",
            "pipeline",
            "stage",
            "expected_close_date",
            "source",
            "lost_reason",
            "owner_email",
            "tags",
        }
    ),
}
REQUIRED = {"account": {"name"}, "contact": {"last_name"}, "deal": {"name"}}
UPSERT_KEYS = {
    "account": ("external_id", "domain"),
    "contact": ("external_id", "email"),
    "deal": ("external_id",),
}


class DealRow(DealCreate):
    """A deal as a CSV row gives it: its account is named by external id or domain, found per chunk."""

    account_id: UUID | None = None  # type: ignore[assignment]


SCHEMAS: dict[str, type[BaseModel]] = {"account": AccountCreate, "contact": ContactCreate, "deal": DealRow}


class RowError(ValueError):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Context:
    """What every row of one import is checked against, loaded once."""

    record_type: str
    members: dict[str, UUID]  # by lower-cased e-mail
    requester: UUID | None
    custom_fields: dict[str, CustomField]
    assigner: Assigner
    currency: str
    stages: dict[tuple[str, str], Stage] = field(default_factory=dict)  # (pipeline, stage), lower-cased
    first_stages: dict[str, Stage] = field(default_factory=dict)  # pipeline, lower-cased → first open
    default_pipeline: str = ""


@dataclass
class Prepared:
    number: int  # the row as a spreadsheet shows it
    values: dict[str, Any]  # column → value for the record
    key: str | None  # the upsert key's value
    account_ref: tuple[str, str] | None = None  # ("external_id" | "domain", value)
    stage: Stage | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    owner_email: str = ""
    country: str | None = None  # what territory rules read (a deal's is its account's, found later)
    amount: tuple[int, str] | None = None


def _tags(text: str) -> list[str]:
    return sorted({t.strip() for t in text.replace(";", ",").split(",") if t.strip()})


def _first_error(exc: ValidationError) -> RowError:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or None
    return RowError(where, f"{where}: {error['msg']}" if where else str(error["msg"]))


def _amount(text: str, currency: str) -> int:
    try:
        major = Decimal(text.replace(" ", "").replace(",", ""))
    except InvalidOperation:
        raise RowError("amount", f"amount: {text!r} is not a number such as 12500.00") from None
    if not major.is_finite():
        raise RowError("amount", f"amount: {text!r} is not a number such as 12500.00")
    minor = major.scaleb(minor_unit_digits(currency))
    if minor != minor.to_integral_value() or not 0 <= minor <= MAX_MINOR_UNITS:
        raise RowError("amount", f"amount: {text!r} is not an amount in {currency}")
    return int(minor)


def _stage(ctx: Context, fields: dict[str, str]) -> Stage:
    pipeline = fields.get("pipeline", ctx.default_pipeline).lower()
    if "stage" in fields:
        stage = ctx.stages.get((pipeline, fields["stage"].lower()))
        if stage is None:
            raise RowError("stage", f"stage: no stage {fields['stage']!r} in pipeline {pipeline!r}")
        return stage
    if pipeline not in ctx.first_stages:
        raise RowError("pipeline", f"pipeline: no pipeline {fields['pipeline']!r}")
    return ctx.first_stages[pipeline]


def prepare(
    ctx: Context, number: int, cells: dict[str, str], mapping: dict[str, str], upsert_by: str | None
) -> Prepared:
    """The row's record values, or RowError saying which field is wrong and why."""
    fields = {target: cells.get(column, "") for column, target in mapping.items()}
    fields = {k: v for k, v in fields.items() if v != ""}
    custom = {k.removeprefix("custom."): fields.pop(k) for k in list(fields) if k.startswith("custom.")}
    for name in REQUIRED[ctx.record_type]:
        if name not in fields:
            raise RowError(name, f"{name} is empty")
    try:
        custom_values = check_values(ctx.custom_fields, ctx.record_type, _typed_custom(ctx, custom), None)
    except ValueError as exc:
        raise RowError("custom", str(exc)) from None
    owner_email = fields.pop("owner_email", "").lower()
    account_ref = None
    for ref in ("account_external_id", "account_domain"):
        if ref in fields:
            account_ref = (ref.removeprefix("account_"), fields.pop(ref))
    body: dict[str, Any] = dict(fields)
    stage = None
    amount: tuple[int, str] | None = None
    if ctx.record_type == "deal":
        if account_ref is None:
            raise RowError("account", "account_external_id or account_domain is needed for a deal")
        currency = body.pop("currency", ctx.currency).upper()
        if currency not in CURRENCIES:
            raise RowError("currency", f"currency: {currency!r} is not an ISO 4217 currency in use")
        body["amount_minor"] = _amount(body.pop("amount"), currency) if "amount" in body else 0
        body["currency"] = currency
        stage = _stage(ctx, body)
        body.pop("pipeline", None)
        body.pop("stage", None)
        if (stage.outcome == "lost") != ("lost_reason" in body):
            raise RowError("lost_reason", "lost_reason: required for a deal at a lost stage, and only then")
        amount = (body["amount_minor"], currency)
    if "tags" in body:
        body["tags"] = _tags(body["tags"])
    external_id = body.pop("external_id", None)
    if external_id is not None and len(external_id) > 100:
        raise RowError("external_id", "external_id: at most 100 characters")
    try:
        checked = SCHEMAS[ctx.record_type].model_validate(body).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise _first_error(exc) from None
    if ctx.record_type == "contact" and checked.get("phone"):
        try:
            checked["phone"] = normalise_phone(checked["phone"], checked.get("country"))
        except Problem as exc:
            raise RowError("phone", f"phone: {exc.detail}") from None
    country = checked.get("country")
    if ctx.record_type == "contact":
        checked.pop("country", None)  # a contact's country only reads the phone number
    key_value = external_id if upsert_by == "external_id" else checked.get(upsert_by) if upsert_by else None
    return Prepared(
        number,
        {**checked, "external_id": external_id},
        key_value,
        account_ref,
        stage,
        custom_values,
        owner_email,
        country,
        amount,
    )


def _typed_custom(ctx: Context, raw: dict[str, str]) -> dict[str, Any]:
    """CSV cells are text: read each by its field's type (an unknown key is refused by the check)."""
    typed: dict[str, Any] = {}
    for key, text in raw.items():
        field = ctx.custom_fields.get(key)
        try:
            typed[key] = value_from_text(field.type, text) if field else text
        except ValueError:
            typed[key] = text  # the check names the field and what it takes
    return typed


def choose_owner(ctx: Context, row: Prepared, country: str | None) -> tuple[UUID, UUID | None]:
    """The row's owner: the member named by `owner_email`, else the first assignment rule that takes
    it, else whoever asked for the import."""
    if row.owner_email:
        if row.owner_email not in ctx.members:
            raise RowError(
                "owner_email", f"owner_email: {row.owner_email!r} is not a member of the organisation"
            )
        return ctx.members[row.owner_email], None
    chosen = ctx.assigner.choose(country, row.amount)
    if chosen is not None:
        return chosen
    if ctx.requester is None:
        raise RowError("owner_email", "owner_email is empty and no assignment rule takes this row")
    return ctx.requester, None
