"""The queries of contacts, their links to accounts, their list and export and their merging. No org_id
or owner filter anywhere on purpose: row-level security narrows every row to the organisation and the
caller's record scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, String, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from keel.contacts.schemas import ContactFilter
from keel.core.json_reads import Document, JsonBody, json_record, json_timestamp
from keel.core.pagination import JsonPage, PageParams, Sort, json_keyset_page, sort_query
from keel.models import Contact, ContactAccount

SORTS = sort_query(
    {
        "created_at": Contact.created_at,
        "updated_at": Contact.updated_at,
        "last_name": func.lower(Contact.last_name, type_=String),
    },
    Contact.id,
)


async def contact_by_id(
    session: AsyncSession, contact_id: UUID, *, for_update: bool = False
) -> Contact | None:
    query = select(Contact).where(Contact.id == contact_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def contact_visible(session: AsyncSession, contact_id: UUID) -> bool:
    return await session.scalar(select(Contact.id).where(Contact.id == contact_id)) is not None


async def is_contact_of_account(session: AsyncSession, contact_id: UUID, account_id: UUID) -> bool:
    linked = select(ContactAccount.contact_id).where(
        ContactAccount.contact_id == contact_id, ContactAccount.account_id == account_id
    )
    return await session.scalar(linked) is not None


async def links_of_contacts(
    session: AsyncSession, contact_ids: Sequence[UUID]
) -> dict[UUID, list[ContactAccount]]:
    """Each contact's links to its accounts."""
    rows = await session.scalars(select(ContactAccount).where(ContactAccount.contact_id.in_(contact_ids)))
    links: dict[UUID, list[ContactAccount]] = {}
    for link in rows:
        links.setdefault(link.contact_id, []).append(link)
    return links


async def links_of_contact(session: AsyncSession, contact_id: UUID) -> list[ContactAccount]:
    return (await links_of_contacts(session, [contact_id])).get(contact_id, [])


async def unlink_all_accounts(session: AsyncSession, contact_id: UUID) -> None:
    await session.execute(delete(ContactAccount).where(ContactAccount.contact_id == contact_id))


def contacts_matching(where: ContactFilter, custom: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """The contacts a list (and its export) shows: `where`'s filters and the custom-field conditions."""
    query = select(Contact).where(*custom)
    if where.owner_id is not None:
        query = query.where(Contact.owner_id == where.owner_id)
    if where.account_id is not None:
        linked = select(ContactAccount.contact_id).where(ContactAccount.account_id == where.account_id)
        query = query.where(Contact.id.in_(linked))
    if where.email is not None:
        query = query.where(Contact.email == where.email.strip().lower())
    if where.tag is not None:
        query = query.where(Contact.tags.contains([where.tag]))
    return query


def with_primary_account(statement: Select[Any]) -> Select[Any]:
    """`statement` with each contact's primary account beside it."""
    primary = select(ContactAccount.account_id).where(
        ContactAccount.contact_id == Contact.id, ContactAccount.is_primary
    )
    return statement.add_columns(primary.scalar_subquery())


# The API's ContactOut, written by PostgreSQL, the contact's accounts aggregated in the same statement.
_ACCOUNT_IDS = (
    select(
        func.coalesce(
            func.array_agg(aggregate_order_by(ContactAccount.account_id, ContactAccount.account_id)),
            literal_column("'{}'::uuid[]"),
        )
    )
    .where(ContactAccount.contact_id == Contact.id)
    .scalar_subquery()
)
_PRIMARY_ACCOUNT_ID = (
    select(ContactAccount.account_id)
    .where(ContactAccount.contact_id == Contact.id, ContactAccount.is_primary)
    .limit(1)
    .scalar_subquery()
)
CONTACT_DOCUMENT: Document = {
    "id": Contact.id,
    "first_name": Contact.first_name,
    "last_name": Contact.last_name,
    "title": Contact.title,
    "email": Contact.email,
    "phone": Contact.phone,
    "owner_id": Contact.owner_id,
    "assignee_id": Contact.assignee_id,
    "tags": Contact.tags,
    "custom": Contact.custom,
    "external_id": Contact.external_id,
    "account_ids": _ACCOUNT_IDS,
    "primary_account_id": _PRIMARY_ACCOUNT_ID,
    "assignment_rule_id": Contact.assignment_rule_id,
    "version": Contact.version,
    "created_at": json_timestamp(Contact.created_at),
    "updated_at": json_timestamp(Contact.updated_at),
}


async def page_of_contacts(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams
) -> JsonPage:
    """A page of the list, as the JSON the API sends."""
    return await json_keyset_page(session, query, CONTACT_DOCUMENT, sort=sort, params=params)


async def contact_json(session: AsyncSession, contact_id: UUID) -> tuple[JsonBody, int] | None:
    """One contact as the JSON the API sends, and its version."""
    return await json_record(session, Contact, contact_id, CONTACT_DOCUMENT)


async def primary_account_of(session: AsyncSession, contact_id: UUID) -> UUID | None:
    return await session.scalar(
        select(ContactAccount.account_id).where(
            ContactAccount.contact_id == contact_id, ContactAccount.is_primary
        )
    )


async def unlink_shared_accounts(session: AsyncSession, duplicate_id: UUID, survivor_id: UUID) -> None:
    """The duplicate's links to accounts the survivor is linked to already."""
    kept = select(ContactAccount.account_id).where(ContactAccount.contact_id == survivor_id)
    await session.execute(
        delete(ContactAccount).where(
            ContactAccount.contact_id == duplicate_id, ContactAccount.account_id.in_(kept)
        )
    )


async def move_account_links(
    session: AsyncSession, duplicate_id: UUID, survivor_id: UUID, *, as_secondary: bool
) -> None:
    """The duplicate's links become the survivor's (none of them primary with `as_secondary`)."""
    moving = {"contact_id": survivor_id} | ({"is_primary": False} if as_secondary else {})
    await session.execute(
        update(ContactAccount).where(ContactAccount.contact_id == duplicate_id).values(moving)
    )
