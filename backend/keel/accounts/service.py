"""Accounts: the companies a sales team works. Owned records: what a member may see and change follows
their role's record scope, enforced by the database (keel.core.rls.owned_table); the checks here give
the clear answer first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select

from keel.access.ownership import keep_within_scope, require_member
from keel.accounts import repository
from keel.accounts.schemas import AccountCreate, AccountFilter, AccountPatch
from keel.assignment.service import choose_owner
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, PageParams, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.customfields.service import checked_values, custom_filter
from keel.models import Account

_FIELDS = (
    "name",
    "domain",
    "industry",
    "size",
    "country",
    "lifecycle_stage",
    "owner_id",
    "assignee_id",
    "tags",
    "custom",
)


def _snapshot(account: Account) -> dict[str, Any]:
    return snapshot(account, _FIELDS)


async def create_account(uow: UnitOfWork, principal: Principal, body: AccountCreate) -> Account:
    owner_id, rule_id = await choose_owner(uow, principal, "account", body.owner_id, country=body.country)
    if body.assignee_id is not None:
        await require_member(uow, body.assignee_id, "assignee_id")
    keep_within_scope(principal, owner_id, body.assignee_id, "accounts")
    account = Account(
        org_id=uow.tenant,
        **body.model_dump(exclude={"owner_id", "tags", "custom"}),
        custom=await checked_values(uow, "account", body.custom),
        owner_id=owner_id,
        assignment_rule_id=rule_id,
        tags=sorted(set(body.tags)),
    )
    uow.session.add(account)
    await uow.session.flush()
    await record_event(
        uow, "account.created", entity_type="account", entity_id=account.id, after=_snapshot(account)
    )
    return account


async def get_account(uow: UnitOfWork, account_id: UUID, *, for_update: bool = False) -> Account:
    # Another organisation's account, or one outside the caller's scope, is simply not there: 404.
    account = await repository.account_by_id(uow.session, account_id, for_update=for_update)
    if account is None:
        raise Problem(404, "No such account.")
    return account


async def update_account(
    uow: UnitOfWork, principal: Principal, account_id: UUID, patch: AccountPatch, *, expected_version: int
) -> Account:
    account = await get_account(uow, account_id, for_update=True)
    if account.version != expected_version:
        raise stale()
    changes = patch.model_dump(exclude_unset=True)
    if "custom" in changes:
        changes["custom"] = await checked_values(uow, "account", changes["custom"] or {}, account.custom)
    if any(field in changes and changes[field] is None for field in ("name", "owner_id")):
        raise Problem(422, "name and owner_id cannot be removed.")
    for field in ("owner_id", "assignee_id"):
        if changes.get(field) is not None:
            await require_member(uow, changes[field], field)
    before = _snapshot(account)
    for field, value in changes.items():
        setattr(account, field, sorted(set(value)) if field == "tags" and value is not None else value)
    if account.tags is None:
        account.tags = []
    keep_within_scope(principal, account.owner_id, account.assignee_id, "accounts")
    old, new = changed_fields(before, _snapshot(account))
    if new:
        account.version += 1
        account.updated_at = datetime.now(UTC)
        await record_event(
            uow, "account.updated", entity_type="account", entity_id=account.id, before=old, after=new
        )
    return account


async def mark_customer(uow: UnitOfWork, account_id: UUID, *, won_deal_id: UUID) -> None:
    """A won deal makes its account a customer, whoever owns the account."""
    async with uow.whole_organisation():
        account = await get_account(uow, account_id, for_update=True)
        if account.lifecycle_stage == "customer":
            return
        before = account.lifecycle_stage
        account.lifecycle_stage = "customer"
        account.version += 1
        account.updated_at = datetime.now(UTC)
        await record_event(
            uow,
            "account.became_customer",
            entity_type="account",
            entity_id=account.id,
            before={"lifecycle_stage": before},
            after={"lifecycle_stage": "customer", "won_deal_id": str(won_deal_id)},
        )


async def delete_account(uow: UnitOfWork, account_id: UUID) -> None:
    account = await get_account(uow, account_id, for_update=True)
    # Deals the caller cannot see hold the account too; the foreign key refuses those (409).
    deals = await repository.count_deals_of_account(uow.session, account_id)
    if deals:
        raise Problem(409, f"The account has {deals} deal(s): delete or move them first.")
    await uow.session.delete(account)
    await record_event(
        uow, "account.deleted", entity_type="account", entity_id=account_id, before=_snapshot(account)
    )


SORTS = repository.SORTS  # where the list and export endpoints read it


async def filtered_accounts(uow: UnitOfWork, where: AccountFilter) -> Select[Any]:
    """What the list and its export show (the export orders it by the list's sort)."""
    custom = await custom_filter(uow, "account", Account.custom, where.custom)
    return repository.accounts_matching(where, custom)


async def list_accounts(uow: UnitOfWork, params: PageParams, where: AccountFilter, sort: Sort) -> JsonPage:
    return await repository.page_of_accounts(uow.session, await filtered_accounts(uow, where), sort, params)


async def read_account(uow: UnitOfWork, account_id: UUID) -> tuple[JsonBody, int]:
    """The account as the JSON the API sends, and its version; 404 as `get_account`."""
    found = await repository.account_json(uow.session, account_id)
    if found is None:
        raise Problem(404, "No such account.")
    return found
