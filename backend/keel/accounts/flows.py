"""Merging two accounts that are one company (keel.merging): its contacts, deals, tickets, activities and
leads move to the survivor, a contact of both keeping one link; the merge is audited with the duplicate
as it was."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from keel.accounts import repository
from keel.core.audit_trail import record_event, snapshot
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.merging.repository import point_references_at
from keel.merging.service import absorb_and_delete, pair_to_merge
from keel.models import Account, Activity, ContactAccount, Deal, Lead, Ticket

FILLED = ("domain", "industry", "size", "country", "external_id")
REFERENCES = (
    ("contacts", ContactAccount, ContactAccount.account_id),
    ("deals", Deal, Deal.account_id),
    ("tickets", Ticket, Ticket.account_id),
    ("activities", Activity, Activity.account_id),
    ("leads", Lead, Lead.account_id),
)


async def merge_accounts(
    uow: UnitOfWork, principal: Principal, survivor_id: UUID, duplicate_id: UUID
) -> Account:
    survivor, duplicate = await pair_to_merge(uow, principal, Account, survivor_id, duplicate_id)
    before = snapshot(duplicate, ("name", *FILLED, "owner_id", "tags", "custom"))
    async with uow.whole_organisation():
        # A contact of both keeps one link (the survivor's), primary if either was.
        both = await repository.contacts_of_both(uow.session, duplicate.id, survivor.id)
        primary = await repository.contacts_with_primary_account(uow.session, duplicate.id)
        await repository.unlink_contacts(uow.session, duplicate.id, both)
        if both & primary:
            await repository.make_primary_for(uow.session, survivor.id, both & primary)
        moved = await point_references_at(uow.session, survivor.id, duplicate.id, REFERENCES)
        if duplicate.lifecycle_stage == "customer":
            survivor.lifecycle_stage = "customer"
        await absorb_and_delete(uow, survivor, duplicate, FILLED)
    await record_event(
        uow,
        "account.merged",
        entity_type="account",
        entity_id=survivor.id,
        before={"duplicate_id": str(duplicate_id), "duplicate": before},
        after={"moved": moved},
    )
    return cast(Account, survivor)
