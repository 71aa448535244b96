"""The queries of accounts, their list and export, their summary and their merging. No org_id or owner
filter anywhere on purpose: row-level security narrows every row to the organisation and the caller's
record scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, String, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.accounts.schemas import AccountFilter
from keel.core.json_reads import Document, JsonBody, json_record, json_timestamp
from keel.core.pagination import JsonPage, PageParams, Sort, json_keyset_page, sort_query
from keel.models import Account, Activity, ContactAccount, Deal, Stage, Ticket

SORTS = sort_query(
    {
        "created_at": Account.created_at,
        "updated_at": Account.updated_at,
        "name": func.lower(Account.name, type_=String),
    },
    Account.id,
)


async def account_by_id(
    session: AsyncSession, account_id: UUID, *, for_update: bool = False
) -> Account | None:
    query = select(Account).where(Account.id == account_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def account_visible(session: AsyncSession, account_id: UUID) -> bool:
    return await session.scalar(select(Account.id).where(Account.id == account_id)) is not None


async def visible_accounts(session: AsyncSession, account_ids: set[UUID]) -> set[UUID]:
    """Those of `account_ids` the caller can see."""
    return set(await session.scalars(select(Account.id).where(Account.id.in_(account_ids))))


async def count_deals_of_account(session: AsyncSession, account_id: UUID) -> int:
    return await session.scalar(select(func.count()).where(Deal.account_id == account_id)) or 0


def accounts_matching(where: AccountFilter, custom: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    """The accounts a list (and its export) shows: `where`'s filters and the custom-field conditions."""
    query = select(Account)
    if where.owner_id is not None:
        query = query.where(Account.owner_id == where.owner_id)
    if where.lifecycle_stage is not None:
        query = query.where(Account.lifecycle_stage == where.lifecycle_stage)
    if where.tag is not None:
        query = query.where(Account.tags.contains([where.tag]))
    if where.domain is not None:
        query = query.where(Account.domain == where.domain.lower())
    return query.where(*custom)


# The API's AccountOut, written by PostgreSQL.
ACCOUNT_DOCUMENT: Document = {
    "id": Account.id,
    "name": Account.name,
    "domain": Account.domain,
    "industry": Account.industry,
    "size": Account.size,
    "country": Account.country,
    "lifecycle_stage": Account.lifecycle_stage,
    "owner_id": Account.owner_id,
    "assignee_id": Account.assignee_id,
    "tags": Account.tags,
    "custom": Account.custom,
    "external_id": Account.external_id,
    "assignment_rule_id": Account.assignment_rule_id,
    "version": Account.version,
    "created_at": json_timestamp(Account.created_at),
    "updated_at": json_timestamp(Account.updated_at),
}


async def page_of_accounts(
    session: AsyncSession, query: Select[Any], sort: Sort, params: PageParams
) -> JsonPage:
    """A page of the list, as the JSON the API sends."""
    return await json_keyset_page(session, query, ACCOUNT_DOCUMENT, sort=sort, params=params)


async def account_json(session: AsyncSession, account_id: UUID) -> tuple[JsonBody, int] | None:
    """One account as the JSON the API sends, and its version."""
    return await json_record(session, Account, account_id, ACCOUNT_DOCUMENT)


async def open_deals_by_currency(session: AsyncSession, account_id: UUID) -> list[tuple[str, int, int]]:
    """(currency, open deals, their amount) for each currency of the account's open deals."""
    rows = await session.execute(
        select(Deal.currency, func.count(), func.sum(Deal.amount_minor))
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.account_id == account_id, Stage.outcome == "open")
        .group_by(Deal.currency)
        .order_by(Deal.currency)
    )
    return [(currency, int(count), int(amount)) for currency, count, amount in rows]


async def last_activity_and_open_tickets(
    session: AsyncSession, account_id: UUID
) -> tuple[datetime | None, int]:
    """When the latest activity on the account, its deals or its tickets happened, and how many of its
    tickets are open or pending: one round trip."""
    deals = select(Deal.id).where(Deal.account_id == account_id).scalar_subquery()
    tickets = select(Ticket.id).where(Ticket.account_id == account_id)
    last_activity = select(func.max(Activity.occurred_at)).where(
        or_(Activity.account_id == account_id, Activity.deal_id.in_(deals), Activity.ticket_id.in_(tickets))
    )
    open_tickets = (
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.account_id == account_id, Ticket.status.in_(("open", "pending")))
    )
    row = (
        await session.execute(select(last_activity.scalar_subquery(), open_tickets.scalar_subquery()))
    ).one()
    return row[0], row[1]


async def contacts_of_both(session: AsyncSession, duplicate_id: UUID, survivor_id: UUID) -> set[UUID]:
    """The contacts linked to both accounts."""
    of_survivor = select(ContactAccount.contact_id).where(ContactAccount.account_id == survivor_id)
    return set(
        await session.scalars(
            select(ContactAccount.contact_id).where(
                ContactAccount.account_id == duplicate_id, ContactAccount.contact_id.in_(of_survivor)
            )
        )
    )


async def contacts_with_primary_account(session: AsyncSession, account_id: UUID) -> set[UUID]:
    """The contacts whose primary account this is."""
    return set(
        await session.scalars(
            select(ContactAccount.contact_id).where(
                ContactAccount.account_id == account_id, ContactAccount.is_primary
            )
        )
    )


async def unlink_contacts(session: AsyncSession, account_id: UUID, contact_ids: set[UUID]) -> None:
    await session.execute(
        delete(ContactAccount).where(
            ContactAccount.account_id == account_id, ContactAccount.contact_id.in_(contact_ids)
        )
    )


async def make_primary_for(session: AsyncSession, account_id: UUID, contact_ids: set[UUID]) -> None:
    """The account becomes the primary account of these contacts (already linked to it)."""
    await session.execute(
        update(ContactAccount)
        .where(ContactAccount.account_id == account_id, ContactAccount.contact_id.in_(contact_ids))
        .values(is_primary=True)
    )
