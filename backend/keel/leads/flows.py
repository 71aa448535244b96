"""Converting a lead: it becomes an account (or joins an existing one), a contact and usually a deal,
in the request's one transaction; the converted lead keeps links to what it became, and converting it
again returns the same records."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from keel.access.permissions import Permission
from keel.accounts.repository import account_by_id
from keel.accounts.schemas import AccountCreate
from keel.accounts.service import create_account
from keel.contacts.schemas import ContactCreate
from keel.contacts.service import create_contact
from keel.core.audit_trail import record_event
from keel.core.errors import Problem
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.deals.flows import create_deal
from keel.deals.schemas import DealCreate
from keel.leads import service
from keel.leads.schemas import ConversionOut, LeadConversion, LeadOut
from keel.models import Lead

_CONVERTING = (Permission.ACCOUNTS_MANAGE, Permission.CONTACTS_MANAGE, Permission.DEALS_MANAGE)


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
    lead = await service.get_lead(uow, lead_id, for_update=True)
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
