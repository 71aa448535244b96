"""Contacts: the people at accounts. Owned records, like accounts: the caller's record scope decides what
they may see and change; phone numbers are stored in E.164 and e-mail addresses lower-cased."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select

from keel.access.ownership import keep_within_scope, require_member
from keel.accounts.repository import visible_accounts
from keel.assignment.service import choose_owner
from keel.contacts import repository
from keel.contacts.schemas import ContactCreate, ContactFilter, ContactOut, ContactPatch
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, PageParams, Sort
from keel.core.phone import normalise_phone
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.customfields.service import checked_values, custom_filter
from keel.models import Contact, ContactAccount

_FIELDS = ("first_name", "last_name", "title", "email", "phone", "owner_id", "assignee_id", "tags", "custom")


def contact_out(contact: Contact, links: list[ContactAccount]) -> ContactOut:
    return ContactOut(
        **{
            field: getattr(contact, field)
            for field in (
                *_FIELDS,
                "id",
                "assignment_rule_id",
                "external_id",
                "version",
                "created_at",
                "updated_at",
            )
        },
        account_ids=sorted(link.account_id for link in links),
        primary_account_id=next((link.account_id for link in links if link.is_primary), None),
    )


def _snapshot(contact: Contact, links: list[ContactAccount]) -> dict[str, Any]:
    values = snapshot(contact, _FIELDS)
    values.update(
        account_ids=sorted(str(link.account_id) for link in links),
        primary_account_id=next((str(link.account_id) for link in links if link.is_primary), None),
    )
    return values


async def _link_accounts(
    uow: UnitOfWork, contact: Contact, account_ids: list[UUID], primary: UUID | None, *, new: bool = False
) -> list[ContactAccount]:
    """Replace the contact's accounts (a `new` contact has none yet). Each must be an account the caller
    can see."""
    wanted = set(account_ids)
    visible = await visible_accounts(uow.session, wanted) if wanted else set()
    if missing := wanted - visible:
        raise Problem(422, f"No such account: {', '.join(sorted(str(m) for m in missing))}.")
    if not new:
        await repository.unlink_all_accounts(uow.session, contact.id)
    if not wanted:
        return []
    links = [
        ContactAccount(org_id=uow.tenant, contact_id=contact.id, account_id=a, is_primary=a == primary)
        for a in sorted(wanted)
    ]
    uow.session.add_all(links)
    await uow.session.flush()
    return links


async def create_contact(uow: UnitOfWork, principal: Principal, body: ContactCreate) -> ContactOut:
    owner_id, rule_id = await choose_owner(uow, principal, "contact", body.owner_id, country=body.country)
    if body.assignee_id is not None:
        await require_member(uow, body.assignee_id, "assignee_id")
    keep_within_scope(principal, owner_id, body.assignee_id, "contacts")
    contact = Contact(
        org_id=uow.tenant,
        first_name=body.first_name,
        last_name=body.last_name,
        title=body.title,
        email=body.email,
        phone=normalise_phone(body.phone, body.country) if body.phone else None,
        owner_id=owner_id,
        assignment_rule_id=rule_id,
        assignee_id=body.assignee_id,
        tags=sorted(set(body.tags)),
        custom=await checked_values(uow, "contact", body.custom),
        external_id=body.external_id,
    )
    uow.session.add(contact)
    await uow.session.flush()
    links = await _link_accounts(uow, contact, body.account_ids or [], body.primary_account_id, new=True)
    await record_event(
        uow, "contact.created", entity_type="contact", entity_id=contact.id, after=_snapshot(contact, links)
    )
    return contact_out(contact, links)


async def _contact(uow: UnitOfWork, contact_id: UUID, *, for_update: bool = False) -> Contact:
    contact = await repository.contact_by_id(uow.session, contact_id, for_update=for_update)
    if contact is None:
        raise Problem(404, "No such contact.")
    return contact


async def get_contact(uow: UnitOfWork, contact_id: UUID) -> tuple[JsonBody, int]:
    """The contact as the JSON the API sends, and its version."""
    found = await repository.contact_json(uow.session, contact_id)
    if found is None:
        raise Problem(404, "No such contact.")
    return found


async def update_contact(
    uow: UnitOfWork, principal: Principal, contact_id: UUID, patch: ContactPatch, *, expected_version: int
) -> ContactOut:
    contact = await _contact(uow, contact_id, for_update=True)
    if contact.version != expected_version:
        raise stale()
    links = await repository.links_of_contact(uow.session, contact.id)
    before = _snapshot(contact, links)
    changes = patch.model_dump(exclude_unset=True, exclude={"account_ids", "primary_account_id", "country"})
    if "custom" in changes:
        changes["custom"] = await checked_values(uow, "contact", changes["custom"] or {}, contact.custom)
    if any(field in changes and changes[field] is None for field in ("last_name", "owner_id", "first_name")):
        raise Problem(422, "first_name, last_name and owner_id cannot be removed.")
    for field in ("owner_id", "assignee_id"):
        if changes.get(field) is not None:
            await require_member(uow, changes[field], field)
    if changes.get("phone"):
        changes["phone"] = normalise_phone(changes["phone"], patch.country)
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"] or []))
    for field, value in changes.items():
        setattr(contact, field, value)
    keep_within_scope(principal, contact.owner_id, contact.assignee_id, "contacts")
    if "account_ids" in patch.model_fields_set:
        links = await _link_accounts(uow, contact, patch.account_ids or [], patch.primary_account_id)
    old, new = changed_fields(before, _snapshot(contact, links))
    if new:
        contact.version += 1
        contact.updated_at = datetime.now(UTC)
        await record_event(
            uow, "contact.updated", entity_type="contact", entity_id=contact.id, before=old, after=new
        )
    return contact_out(contact, links)


async def delete_contact(uow: UnitOfWork, contact_id: UUID) -> None:
    contact = await _contact(uow, contact_id, for_update=True)
    links = await repository.links_of_contact(uow.session, contact.id)
    await uow.session.delete(contact)
    await record_event(
        uow, "contact.deleted", entity_type="contact", entity_id=contact_id, before=_snapshot(contact, links)
    )


SORTS = repository.SORTS  # where the list and export endpoints read it


async def filtered_contacts(uow: UnitOfWork, where: ContactFilter) -> Select[Any]:
    """What the list and its export show (the export orders it by the list's sort)."""
    custom = await custom_filter(uow, "contact", Contact.custom, where.custom)
    return repository.contacts_matching(where, custom)


EXPORT_COLUMNS = [
    "id", "first_name", "last_name", "title", "email", "phone", "primary_account_id", "owner_id",
    "assignee_id", "tags", "custom", "external_id", "created_at", "updated_at",
]  # fmt: skip


def exported(statement: Select[Any]) -> Select[Any]:
    """`statement` with each contact's primary account beside it, for `export_row`."""
    return repository.with_primary_account(statement)


def export_row(contact: Contact, primary_account_id: UUID | None) -> dict[str, Any]:
    values = {c: getattr(contact, c) for c in EXPORT_COLUMNS if c != "primary_account_id"}
    return values | {"primary_account_id": primary_account_id}


async def list_contacts(uow: UnitOfWork, params: PageParams, where: ContactFilter, sort: Sort) -> JsonPage:
    return await repository.page_of_contacts(uow.session, await filtered_contacts(uow, where), sort, params)
