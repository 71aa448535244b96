"""Leads: unqualified interest, owned like accounts. Converting a lead turns it into an account (or joins
an existing one), a contact and usually a deal, in the request's one transaction; a converted lead keeps
links to what it became, and converting it again returns the same records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select

from keel.access.ownership import keep_within_scope, require_member
from keel.access.permissions import Permission
from keel.accounts.repository import account_by_id
from keel.accounts.schemas import AccountCreate
from keel.accounts.service import create_account
from keel.assignment.service import choose_owner
from keel.contacts.schemas import ContactCreate
from keel.contacts.service import create_contact, normalise_phone
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.pagination import PageParams, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.customfields.service import checked_values, custom_filter
from keel.deals.schemas import DealCreate
from keel.deals.service import create_deal
from keel.leads import repository
from keel.leads.schemas import (
    ConversionOut,
    LeadConversion,
    LeadCreate,
    LeadFilter,
    LeadOut,
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
_CONVERTING = (Permission.ACCOUNTS_MANAGE, Permission.CONTACTS_MANAGE, Permission.DEALS_MANAGE)


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


def _converted(lead: Lead) -> ConversionOut:
    return ConversionOut(
        lead=LeadOut.model_validate(lead),
        account_id=lead.account_id,
        contact_id=lead.contact_id,
        deal_id=lead.deal_id,
    )


async def convert_lead(
    uow: UnitOfWork, principal: Principal, lead_id: UUID, body: LeadConversion
) -> tuple[ConversionOut, bool]:
    """The account, contact and deal the lead becomes, and whether this call made them. The lead is
    locked first, so two conversions at once make one set of records."""
    if missing := [p.value for p in _CONVERTING if p not in principal.permissions]:
        raise Problem(403, f"Converting a lead creates records: it needs {', '.join(missing)}.")
    lead = await get_lead(uow, lead_id, for_update=True)
    if lead.status == "converted":
        return _converted(lead), False
    if lead.status == "disqualified":
        raise Problem(409, "The lead is disqualified: requalify it before converting it.")
    if not lead.last_name:
        raise Problem(422, "The lead needs a last_name to become a contact.")
    people = {"owner_id": lead.owner_id, "assignee_id": lead.assignee_id}
    if body.account_id is not None:
        account = await account_by_id(uow.session, body.account_id)
        if account is None:
            raise Problem(422, "account_id is not an account you can see.")
    else:
        name = lead.company or f"{lead.first_name} {lead.last_name}".strip()
        account = await create_account(
            uow, principal, AccountCreate(name=name, country=lead.country, tags=lead.tags, **people)
        )
    contact = await create_contact(
        uow,
        principal,
        ContactCreate(
            first_name=lead.first_name,
            last_name=lead.last_name,
            title=lead.title,
            email=lead.email,
            phone=lead.phone,
            account_ids=[account.id],
            primary_account_id=account.id,
            tags=lead.tags,
            **people,
        ),
    )
    deal_id = None
    if body.deal is not None:
        deal = await create_deal(
            uow,
            principal,
            DealCreate(
                **body.deal.model_dump(exclude={"name"}),
                name=body.deal.name or account.name,
                account_id=account.id,
                primary_contact_id=contact.id,
                source=lead.source,
                tags=lead.tags,
                **people,
            ),
        )
        deal_id = deal.id
    lead.status, lead.converted_at, lead.converted_by = "converted", datetime.now(UTC), uow.user_id
    lead.account_id, lead.contact_id, lead.deal_id = account.id, contact.id, deal_id
    lead.version += 1
    lead.updated_at = lead.converted_at
    links = {
        "account_id": str(account.id),
        "contact_id": str(contact.id),
        "deal_id": deal_id and str(deal_id),
    }
    await record_event(
        uow, "lead.converted", entity_type="lead", entity_id=lead.id, after={"status": "converted", **links}
    )
    await uow.session.flush()
    return _converted(lead), True


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


async def list_leads(
    uow: UnitOfWork, params: PageParams, where: LeadFilter, sort: Sort
) -> tuple[Sequence[Lead], str | None]:
    return await repository.page_of_leads(uow.session, await filtered_leads(uow, where), sort, params)
