"""Leads: unqualified interest, owned like accounts. Converting one into an account, a contact and a deal
is keel.leads.flows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select

from keel.access.ownership import keep_within_scope, require_member
from keel.assignment.service import choose_owner
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, PageParams, Sort
from keel.core.phone import normalise_phone
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.customfields.service import checked_values, custom_filter
from keel.leads import repository
from keel.leads.schemas import (
    LeadCreate,
    LeadFilter,
    LeadPatch,
)
from keel.models import Lead

_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "title",
    "email",
    "phone",
    "country",
    "source",
    "status",
    "disqualified_reason",
    "owner_id",
    "assignee_id",
    "tags",
    "custom",
)


def _snapshot(lead: Lead) -> dict[str, Any]:
    return snapshot(lead, _FIELDS)


async def create_lead(uow: UnitOfWork, principal: Principal, body: LeadCreate) -> Lead:
    owner_id, rule_id = await choose_owner(uow, principal, "lead", body.owner_id, country=body.country)
    if body.assignee_id is not None:
        await require_member(uow, body.assignee_id, "assignee_id")
    keep_within_scope(principal, owner_id, body.assignee_id, "leads")
    lead = Lead(
        org_id=uow.tenant,
        **body.model_dump(exclude={"owner_id", "tags", "phone", "custom"}),
        custom=await checked_values(uow, "lead", body.custom),
        phone=normalise_phone(body.phone, body.country) if body.phone else None,
        owner_id=owner_id,
        assignment_rule_id=rule_id,
        tags=sorted(set(body.tags)),
    )
    uow.session.add(lead)
    await uow.session.flush()
    await uow.session.refresh(lead)
    await record_event(uow, "lead.created", entity_type="lead", entity_id=lead.id, after=_snapshot(lead))
    return lead


async def get_lead(uow: UnitOfWork, lead_id: UUID, *, for_update: bool = False) -> Lead:
    # Another organisation's lead, or one outside the caller's scope, is simply not there: 404.
    lead = await repository.lead_by_id(uow.session, lead_id, for_update=for_update)
    if lead is None:
        raise Problem(404, "No such lead.")
    return lead


async def update_lead(
    uow: UnitOfWork, principal: Principal, lead_id: UUID, patch: LeadPatch, *, expected_version: int
) -> Lead:
    lead = await get_lead(uow, lead_id, for_update=True)
    if lead.version != expected_version:
        raise stale()
    if lead.status == "converted":
        raise Problem(409, "A converted lead is kept as it was: change the account, contact or deal.")
    changes = patch.model_dump(exclude_unset=True)
    if "custom" in changes:
        changes["custom"] = await checked_values(uow, "lead", changes["custom"] or {}, lead.custom)
    if any(changes.get(field, "") is None for field in ("first_name", "last_name", "owner_id", "status")):
        raise Problem(422, "first_name, last_name, owner_id and status cannot be removed.")
    for field in ("owner_id", "assignee_id"):
        if changes.get(field) is not None:
            await require_member(uow, changes[field], field)
    if changes.get("phone"):
        changes["phone"] = normalise_phone(changes["phone"], changes.get("country") or lead.country)
    before = _snapshot(lead)
    for field, value in changes.items():
        setattr(lead, field, sorted(set(value or [])) if field == "tags" else value)
    if lead.status != "disqualified" and "disqualified_reason" not in changes:
        lead.disqualified_reason = None  # requalified: the old reason no longer holds
    if (lead.status == "disqualified") != (lead.disqualified_reason is not None):
        raise Problem(422, "disqualified_reason is required for a disqualified lead, and only for one.")
    if not (lead.last_name or lead.company or lead.email):
        raise Problem(422, "A lead needs at least a last_name, a company or an email.")
    keep_within_scope(principal, lead.owner_id, lead.assignee_id, "leads")
    old, new = changed_fields(before, _snapshot(lead))
    if new:
        lead.version += 1
        lead.updated_at = datetime.now(UTC)
        await record_event(uow, "lead.updated", entity_type="lead", entity_id=lead.id, before=old, after=new)
    return lead


async def delete_lead(uow: UnitOfWork, lead_id: UUID) -> None:
    lead = await get_lead(uow, lead_id, for_update=True)
    await uow.session.delete(lead)
    await record_event(uow, "lead.deleted", entity_type="lead", entity_id=lead_id, before=_snapshot(lead))


SORTS = repository.SORTS  # where the list and export endpoints read it


async def filtered_leads(uow: UnitOfWork, where: LeadFilter) -> Select[Any]:
    """What the list and its export show (the export orders it by the list's sort)."""
    custom = await custom_filter(uow, "lead", Lead.custom, where.custom)
    return repository.leads_matching(where, custom)


EXPORT_COLUMNS = [
    "id", "first_name", "last_name", "company", "title", "email", "phone", "country", "source", "status",
    "disqualified_reason", "owner_id", "assignee_id", "tags", "custom", "external_id", "account_id",
    "contact_id", "deal_id", "converted_at", "created_at", "updated_at",
]  # fmt: skip


def export_row(lead: Lead) -> dict[str, Any]:
    return {c: getattr(lead, c) for c in EXPORT_COLUMNS}


async def list_leads(uow: UnitOfWork, params: PageParams, where: LeadFilter, sort: Sort) -> JsonPage:
    return await repository.page_of_leads(uow.session, await filtered_leads(uow, where), sort, params)


async def read_lead(uow: UnitOfWork, lead_id: UUID) -> tuple[JsonBody, int]:
    """The lead as the JSON the API sends, and its version; 404 as `get_lead`."""
    found = await repository.lead_json(uow.session, lead_id)
    if found is None:
        raise Problem(404, "No such lead.")
    return found
