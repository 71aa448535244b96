"""Merging duplicates: two accounts (or two contacts) that are one company (or person). Everything that
refers to the duplicate moves to the survivor, including records the caller cannot see (they belong to
the survivor now as they belonged to the duplicate); the survivor keeps its own values and takes the
duplicate's where it had none; the duplicate is deleted; the merge is audited with the duplicate as it
was."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from sqlalchemy import delete, select, update

from keel.access.ownership import keep_within_scope
from keel.audit.service import record_event, snapshot
from keel.core.errors import Problem
from keel.core.uow import UnitOfWork
from keel.identity.service import Principal
from keel.models import Account, Activity, Contact, ContactAccount, Deal, Lead, Ticket

FILLED = {
    "account": ("domain", "industry", "size", "country", "external_id"),
    "contact": ("title", "email", "phone", "external_id"),
}


async def _pair(
    uow: UnitOfWork,
    principal: Principal,
    model: type[Account | Contact],
    survivor_id: UUID,
    duplicate_id: UUID,
) -> tuple[Any, Any]:
    if survivor_id == duplicate_id:
        raise Problem(422, "A record cannot be merged into itself.")
    found: list[Any] = list(
        await uow.session.scalars(
            select(model).where(model.id.in_([survivor_id, duplicate_id])).with_for_update()
        )
    )
    rows = {r.id: r for r in found}
    if duplicate_id not in rows:
        raise Problem(422, "duplicate_id is not one you can see.")
    if survivor_id not in rows:
        raise Problem(404, "No such record.")
    for record in rows.values():
        keep_within_scope(principal, record.owner_id, record.assignee_id, model.__tablename__)
    return rows[survivor_id], rows[duplicate_id]


async def _move_references(
    uow: UnitOfWork, duplicate_id: UUID, survivor_id: UUID, references: tuple[tuple[str, Any, Any], ...]
) -> dict[str, int]:
    """Points every (name, model, column) reference to the duplicate at the survivor; how many moved."""
    moved: dict[str, int] = {}
    for name, model, column in references:
        result = await uow.session.execute(
            update(model).where(column == duplicate_id).values({column.key: survivor_id})
        )
        moved[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return moved


async def _absorb_and_delete(uow: UnitOfWork, kind: str, survivor: Any, duplicate: Any) -> None:
    """The survivor's values stand; empty ones take the duplicate's (its external id too, freed first).
    Tags and custom values unite. Then the duplicate is deleted."""
    for field in FILLED[kind]:
        if getattr(survivor, field) is None:
            setattr(survivor, field, getattr(duplicate, field))
    survivor.tags = sorted(set(survivor.tags) | set(duplicate.tags))
    survivor.custom = {**duplicate.custom, **survivor.custom}
    survivor.version += 1
    duplicate.external_id = None
    await uow.session.flush()
    await uow.session.delete(duplicate)
    await uow.session.flush()


async def merge_accounts(
    uow: UnitOfWork, principal: Principal, survivor_id: UUID, duplicate_id: UUID
) -> Account:
    survivor, duplicate = await _pair(uow, principal, Account, survivor_id, duplicate_id)
    before = snapshot(duplicate, ("name", *FILLED["account"], "owner_id", "tags", "custom"))
    async with uow.whole_organisation():
        # A contact of both keeps one link (the survivor's), primary if either was.
        both = set(
            await uow.session.scalars(
                select(ContactAccount.contact_id).where(
                    ContactAccount.account_id == duplicate.id,
                    ContactAccount.contact_id.in_(
                        select(ContactAccount.contact_id).where(ContactAccount.account_id == survivor.id)
                    ),
                )
            )
        )
        primary = set(
            await uow.session.scalars(
                select(ContactAccount.contact_id).where(
                    ContactAccount.account_id == duplicate.id, ContactAccount.is_primary
                )
            )
        )
        await uow.session.execute(
            delete(ContactAccount).where(
                ContactAccount.account_id == duplicate.id, ContactAccount.contact_id.in_(both)
            )
        )
        if both & primary:
            await uow.session.execute(
                update(ContactAccount)
                .where(
                    ContactAccount.account_id == survivor.id, ContactAccount.contact_id.in_(both & primary)
                )
                .values(is_primary=True)
            )
        moved = await _move_references(
            uow,
            duplicate.id,
            survivor.id,
            (
                ("contacts", ContactAccount, ContactAccount.account_id),
                ("deals", Deal, Deal.account_id),
                ("tickets", Ticket, Ticket.account_id),
                ("activities", Activity, Activity.account_id),
                ("leads", Lead, Lead.account_id),
            ),
        )
        if duplicate.lifecycle_stage == "customer":
            survivor.lifecycle_stage = "customer"
        await _absorb_and_delete(uow, "account", survivor, duplicate)
    await record_event(
        uow,
        "account.merged",
        entity_type="account",
        entity_id=survivor.id,
        before={"duplicate_id": str(duplicate_id), "duplicate": before},
        after={"moved": moved},
    )
    return cast(Account, survivor)


async def merge_contacts(
    uow: UnitOfWork, principal: Principal, survivor_id: UUID, duplicate_id: UUID
) -> Contact:
    survivor, duplicate = await _pair(uow, principal, Contact, survivor_id, duplicate_id)
    before = snapshot(
        duplicate, ("first_name", "last_name", *FILLED["contact"], "owner_id", "tags", "custom")
    )
    async with uow.whole_organisation():
        kept = select(ContactAccount.account_id).where(ContactAccount.contact_id == survivor.id)
        has_primary = await uow.session.scalar(
            select(ContactAccount.account_id).where(
                ContactAccount.contact_id == survivor.id, ContactAccount.is_primary
            )
        )
        await uow.session.execute(
            delete(ContactAccount).where(
                ContactAccount.contact_id == duplicate.id, ContactAccount.account_id.in_(kept)
            )
        )
        # The survivor's primary account stays its primary; without one, the duplicate's becomes it.
        moving = {"contact_id": survivor.id} | ({"is_primary": False} if has_primary is not None else {})
        await uow.session.execute(
            update(ContactAccount).where(ContactAccount.contact_id == duplicate.id).values(moving)
        )
        moved = await _move_references(
            uow,
            duplicate.id,
            survivor.id,
            (
                ("deals", Deal, Deal.primary_contact_id),
                ("tickets", Ticket, Ticket.contact_id),
                ("activities", Activity, Activity.contact_id),
                ("leads", Lead, Lead.contact_id),
            ),
        )
        await _absorb_and_delete(uow, "contact", survivor, duplicate)
    await record_event(
        uow,
        "contact.merged",
        entity_type="contact",
        entity_id=survivor.id,
        before={"duplicate_id": str(duplicate_id), "duplicate": before},
        after={"moved": moved},
    )
    return cast(Contact, survivor)
