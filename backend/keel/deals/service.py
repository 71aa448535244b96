"""Deals: an amount at a stage of a pipeline, for an account. Owned records, like accounts: the caller's
record scope decides what they may see and change. Every stage change is kept (from, to, at, by) for the
conversion and velocity reports; winning a deal makes its account a customer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select

from keel.access.ownership import keep_within_scope, require_member
from keel.access.permissions import Permission
from keel.accounts.repository import account_by_id
from keel.assignment.service import choose_owner
from keel.contacts.repository import is_contact_of_account
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.json_reads import JsonBody
from keel.core.pagination import JsonPage, PageParams, Sort
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.customfields.service import checked_values, custom_filter
from keel.deals import repository
from keel.deals.schemas import DealCreate, DealFilter, DealOut, DealPatch, StageChangeOut
from keel.models import Account, Deal, DealStageChange, Stage

_FIELDS = (
    "name",
    "account_id",
    "primary_contact_id",
    "pipeline_id",
    "stage_id",
    "amount_minor",
    "currency",
    "expected_close_date",
    "source",
    "lost_reason",
    "owner_id",
    "assignee_id",
    "tags",
    "custom",
)
_MONEY = ("amount_minor", "currency")


def deal_out(deal: Deal, outcome: str, principal: Principal) -> DealOut:
    """What the caller may see of a deal: its amount only with `deal_amounts:read`."""
    values = {field: getattr(deal, field) for field in DealOut.model_fields if field != "status"}
    if Permission.DEAL_AMOUNTS_READ not in principal.permissions:
        values.update(amount_minor=None, currency=None)
    return DealOut(**values, status=outcome)


def deal_snapshot(deal: Deal) -> dict[str, Any]:
    """What the audit trail keeps of a deal before and after a change."""
    return snapshot(deal, _FIELDS)


async def _stage(uow: UnitOfWork, pipeline_id: UUID | None, stage_id: UUID | None) -> Stage:
    """The stage a deal goes to: the one named (in the pipeline named, when both are), else the first open
    stage of the pipeline named, else of the default pipeline."""
    if stage_id is not None:
        stage = await repository.stage_by_id(uow.session, stage_id)
        if stage is None:
            raise Problem(422, "stage_id is not a stage of this organisation.")
        if pipeline_id is not None and stage.pipeline_id != pipeline_id:
            raise Problem(422, "stage_id is not a stage of the pipeline given as pipeline_id.")
        return stage
    if pipeline_id is None:
        pipeline_id = await repository.default_pipeline_id(uow.session)
    stage = await repository.first_open_stage(uow.session, pipeline_id)
    if stage is None:
        raise Problem(422, "pipeline_id is not a pipeline of this organisation.")
    return stage


async def _check_links(uow: UnitOfWork, account_id: UUID, contact_id: UUID | None) -> Account:
    """The account must be one the caller can see; the primary contact one of that account's."""
    account = await account_by_id(uow.session, account_id)
    if account is None:
        raise Problem(422, "account_id is not an account you can see.")
    if contact_id is not None and not await is_contact_of_account(uow.session, contact_id, account_id):
        raise Problem(422, "primary_contact_id must be a contact of the deal's account.")
    return account


def _check_lost_reason(deal: Deal, outcome: str) -> None:
    if outcome == "lost" and not deal.lost_reason:
        raise Problem(422, "lost_reason is required for a deal at a lost stage.")
    if outcome != "lost" and deal.lost_reason:
        raise Problem(422, "lost_reason is only for a deal at a lost stage.")


async def _enter_stage(uow: UnitOfWork, deal: Deal, stage: Stage, previous: UUID | None) -> None:
    """Put the deal at `stage` and keep the move in its history."""
    now = datetime.now(UTC)
    deal.pipeline_id, deal.stage_id, deal.stage_entered_at = stage.pipeline_id, stage.id, now
    deal.closed_at = now if stage.outcome != "open" else None
    uow.session.add(
        DealStageChange(
            org_id=uow.tenant,
            deal_id=deal.id,
            from_stage_id=previous,
            to_stage_id=stage.id,
            changed_by=uow.user_id,
            changed_at=now,
        )
    )


async def create_deal(uow: UnitOfWork, principal: Principal, body: DealCreate) -> tuple[DealOut, bool]:
    """The new deal, and whether it was created won (keel.deals.flows makes its account a customer)."""
    account = await _check_links(uow, body.account_id, body.primary_contact_id)
    currency = body.currency or await repository.default_currency(uow.session, uow.tenant)
    currency = currency or "EUR"
    owner_id, rule_id = await choose_owner(
        uow, principal, "deal", body.owner_id, country=account.country, amount=(body.amount_minor, currency)
    )
    if body.assignee_id is not None:
        await require_member(uow, body.assignee_id, "assignee_id")
    keep_within_scope(principal, owner_id, body.assignee_id, "deals")
    stage = await _stage(uow, body.pipeline_id, body.stage_id)
    if (body.lost_reason is None) == (stage.outcome == "lost"):
        raise Problem(422, "lost_reason is required for a deal created lost, and only then.")
    deal = Deal(
        org_id=uow.tenant,
        **body.model_dump(exclude={"owner_id", "tags", "pipeline_id", "stage_id", "currency", "custom"}),
        custom=await checked_values(uow, "deal", body.custom),
        currency=currency,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        owner_id=owner_id,
        assignment_rule_id=rule_id,
        tags=sorted(set(body.tags)),
    )
    uow.session.add(deal)
    await uow.session.flush()
    await _enter_stage(uow, deal, stage, previous=None)
    await uow.session.flush()
    await uow.session.refresh(deal, ["created_at", "updated_at", "version"])
    await record_event(uow, "deal.created", entity_type="deal", entity_id=deal.id, after=deal_snapshot(deal))
    return deal_out(deal, stage.outcome, principal), stage.outcome == "won"


async def _deal(uow: UnitOfWork, deal_id: UUID, *, for_update: bool = False) -> Deal:
    # Another organisation's deal, or one outside the caller's scope, is simply not there: 404.
    deal = await repository.deal_by_id(uow.session, deal_id, for_update=for_update)
    if deal is None:
        raise Problem(404, "No such deal.")
    return deal


def _sees_amounts(principal: Principal) -> bool:
    return Permission.DEAL_AMOUNTS_READ in principal.permissions


async def read_deal(uow: UnitOfWork, principal: Principal, deal_id: UUID) -> tuple[JsonBody, int]:
    """What `get_deal` shows, as the JSON the API sends, and the deal's version."""
    found = await repository.deal_json(uow.session, deal_id, amounts=_sees_amounts(principal))
    if found is None:
        raise Problem(404, "No such deal.")
    return found


async def update_deal(
    uow: UnitOfWork, principal: Principal, deal_id: UUID, patch: DealPatch, *, expected_version: int
) -> tuple[DealOut, bool]:
    """The changed deal, and whether this change moved it into a won stage."""
    deal = await _deal(uow, deal_id, for_update=True)
    if deal.version != expected_version:
        raise stale()
    changes = patch.model_dump(exclude_unset=True, exclude={"pipeline_id", "stage_id"})
    if "custom" in changes:
        changes["custom"] = await checked_values(uow, "deal", changes["custom"] or {}, deal.custom)
    if any(changes.get(field, "") is None for field in ("name", "account_id", "owner_id", "amount_minor")):
        raise Problem(422, "name, account_id, owner_id and amount_minor cannot be removed.")
    if changes.get("currency", "") is None:
        raise Problem(422, "currency cannot be removed.")
    if (
        any(field in changes for field in _MONEY)
        and Permission.DEAL_AMOUNTS_READ not in principal.permissions
    ):
        raise Problem(403, "Changing a deal's amount needs the deal_amounts:read permission.")
    for field in ("owner_id", "assignee_id"):
        if changes.get(field) is not None:
            await require_member(uow, changes[field], field)
    before = deal_snapshot(deal)
    for field, value in changes.items():
        setattr(deal, field, sorted(set(value or [])) if field == "tags" else value)
    keep_within_scope(principal, deal.owner_id, deal.assignee_id, "deals")
    if {"account_id", "primary_contact_id"} & changes.keys():
        await _check_links(uow, deal.account_id, deal.primary_contact_id)
    stage_moved = patch.stage_id is not None or (
        patch.pipeline_id is not None and patch.pipeline_id != deal.pipeline_id
    )
    if stage_moved:
        stage = await _stage(uow, patch.pipeline_id, patch.stage_id)
        stage_moved = stage.id != deal.stage_id
    else:
        stage = await repository.current_stage(uow.session, deal.stage_id)
    if stage_moved:
        if "lost_reason" not in changes and stage.outcome != "lost":
            deal.lost_reason = None  # reopened or won: the old reason no longer holds
        await _enter_stage(uow, deal, stage, previous=deal.stage_id)
    _check_lost_reason(deal, stage.outcome)
    old, new = changed_fields(before, deal_snapshot(deal))
    if new:
        deal.version += 1
        deal.updated_at = datetime.now(UTC)
        await record_event(uow, "deal.updated", entity_type="deal", entity_id=deal.id, before=old, after=new)
    return deal_out(deal, stage.outcome, principal), stage_moved and stage.outcome == "won"


async def delete_deal(uow: UnitOfWork, deal_id: UUID) -> None:
    deal = await _deal(uow, deal_id, for_update=True)
    await uow.session.delete(deal)
    await record_event(uow, "deal.deleted", entity_type="deal", entity_id=deal_id, before=deal_snapshot(deal))


async def stage_history(uow: UnitOfWork, deal_id: UUID) -> list[StageChangeOut]:
    await _deal(uow, deal_id)
    rows = await repository.stage_changes_of_deal(uow.session, deal_id)
    return [StageChangeOut.model_validate(row) for row in rows]


SORTS = repository.SORTS  # where the list and export endpoints read it


async def filtered_deals(uow: UnitOfWork, where: DealFilter) -> Select[Any]:
    """What the list and its export show (the export orders it by the list's sort)."""
    custom = await custom_filter(uow, "deal", Deal.custom, where.custom)
    return repository.deals_matching(where, custom)


EXPORT_COLUMNS = [
    "id", "name", "account_id", "primary_contact_id", "pipeline_id", "stage_id", "amount_minor",
    "currency", "expected_close_date", "source", "lost_reason", "owner_id", "assignee_id", "tags", "custom",
    "external_id", "created_at", "closed_at",
]  # fmt: skip


def export_row(principal: Principal) -> Callable[[Deal], dict[str, Any]]:
    """A deal as an export row: its amount only with `deal_amounts:read`, as on every other path."""
    sees_amounts = Permission.DEAL_AMOUNTS_READ in principal.permissions

    def row(deal: Deal) -> dict[str, Any]:
        values = {c: getattr(deal, c) for c in EXPORT_COLUMNS}
        if not sees_amounts:
            values.update(amount_minor=None, currency=None)
        return values

    return row


async def list_deals(
    uow: UnitOfWork, principal: Principal, params: PageParams, where: DealFilter, sort: Sort
) -> JsonPage:
    query = await filtered_deals(uow, where)
    return await repository.page_of_deals(uow.session, query, sort, params, amounts=_sees_amounts(principal))
