"""Merging two contacts that are one person (keel.merging): their accounts, deals, tickets, activities and
leads move to the survivor, whose primary account stays its primary; the merge is audited with the
duplicate as it was."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from keel.contacts import repository
from keel.core.audit_trail import record_event, snapshot
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.merging.repository import point_references_at
from keel.merging.service import absorb_and_delete, pair_to_merge
from keel.models import Activity, Contact, Deal, Lead, Ticket

FILLED = ("title", "email", "phone", "external_id")
REFERENCES = (
    ("deals", Deal, Deal.primary_contact_id),
    ("tickets", Ticket, Ticket.contact_id),
    ("activities", Activity, Activity.contact_id),
    ("leads", Lead, Lead.contact_id),
)


async def merge_contacts(
    uow: UnitOfWork, principal: Principal, survivor_id: UUID, duplicate_id: UUID
) -> Contact:
    survivor, duplicate = await pair_to_merge(uow, principal, Contact, survivor_id, duplicate_id)
    before = snapshot(duplicate, ("first_name", "last_name", *FILLED, "owner_id", "tags", "custom"))
    async with uow.whole_organisation():
        has_primary = await repository.primary_account_of(uow.session, survivor.id) is not None
        await repository.unlink_shared_accounts(uow.session, duplicate.id, survivor.id)
        # The survivor's primary account stays its primary; without one, the duplicate's becomes it.
        await repository.move_account_links(uow.session, duplicate.id, survivor.id, as_secondary=has_primary)
        moved = await point_references_at(uow.session, survivor.id, duplicate.id, REFERENCES)
        await absorb_and_delete(uow, survivor, duplicate, FILLED)
    await record_event(
        uow,
        "contact.merged",
        entity_type="contact",
        entity_id=survivor.id,
        before={"duplicate_id": str(duplicate_id), "duplicate": before},
        after={"moved": moved},
    )
    return cast(Contact, survivor)
