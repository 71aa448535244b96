"""Deals and their accounts: a deal that is won makes its account a customer, whoever owns the account
(ADR 0012)."""

from __future__ import annotations

from uuid import UUID

from keel.accounts.service import mark_customer
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.deals import service
from keel.deals.schemas import DealCreate, DealOut, DealPatch


async def create_deal(uow: UnitOfWork, principal: Principal, body: DealCreate) -> DealOut:
    deal, won = await service.create_deal(uow, principal, body)
    if won:
        await mark_customer(uow, deal.account_id, won_deal_id=deal.id)
    return deal


async def update_deal(
    uow: UnitOfWork, principal: Principal, deal_id: UUID, patch: DealPatch, *, expected_version: int
) -> DealOut:
    deal, won = await service.update_deal(uow, principal, deal_id, patch, expected_version=expected_version)
    if won:
        await mark_customer(uow, deal.account_id, won_deal_id=deal.id)
    return deal
