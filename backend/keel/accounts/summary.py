"""The customer summary the account page calls: open deals and their value, the last activity, open
tickets. Cached in shared state (Redis when configured) per organisation generation and viewer.

Correctness over hit rate: any committed change to a table the summary reads, or to who sees what
(memberships, roles, teams), starts a new generation for the whole organisation before the writer's
response leaves (keel.core.changes). A reader takes the generation *before* reading the database, so a
value computed from older rows can only be stored under a generation nobody reads any more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import structlog
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from keel.access.permissions import Permission
from keel.accounts import repository
from keel.accounts.service import get_account
from keel.core.cache import generation, get_shared_state, new_generation
from keel.core.changes import on_change
from keel.core.json_reads import JsonBody
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork

ENTRY_TTL_SECONDS = 300
# What the summary reads, and what decides which of it a member sees.
SUMMARY_TABLES = (
    "accounts",
    "deals",
    "stages",
    "activities",
    "tickets",
    "memberships",
    "roles",
    "team_members",
)
log = structlog.get_logger("keel.accounts.summary")


class CurrencyTotal(BaseModel):
    currency: str
    amount_minor: int


class AccountSummary(BaseModel):
    account_id: UUID
    open_deals: int = Field(description="Open deals on the account that the caller sees")
    open_deal_value: list[CurrencyTotal] | None = Field(
        description="Their value per currency; null without `deal_amounts:read`"
    )
    last_activity_at: datetime | None = Field(
        description="The latest activity on the account, its deals or its tickets"
    )
    open_tickets: int = Field(description="Tickets on the account that are open or pending")
    computed_at: datetime


def _generation_key(org_id: UUID) -> str:
    return f"crm:summary:gen:{org_id}"


async def _retire(org_id: UUID) -> None:
    await new_generation(get_shared_state(), _generation_key(org_id))


on_change(SUMMARY_TABLES, _retire)


async def _compute(uow: UnitOfWork, account_id: UUID) -> AccountSummary:
    await get_account(uow, account_id)  # 404 unless the caller sees it
    totals = await repository.open_deals_by_currency(uow.session, account_id)
    last_activity_at, open_tickets = await repository.last_activity_and_open_tickets(uow.session, account_id)
    return AccountSummary(
        account_id=account_id,
        open_deals=sum(count for _, count, _ in totals),
        open_deal_value=[CurrencyTotal(currency=c, amount_minor=a) for c, _, a in totals],
        last_activity_at=last_activity_at,
        open_tickets=open_tickets,
        computed_at=datetime.now(UTC),
    )


def _viewer(principal: Principal) -> str:
    # Whole-organisation viewers share one entry; others see their own slice of the account. Entries
    # are stored as the caller may see them, with or without the amounts.
    amounts = "amounts" if Permission.DEAL_AMOUNTS_READ in principal.permissions else "no-amounts"
    if principal.record_scope == "all":
        return f"all:{amounts}"
    return f"{principal.record_scope}:{principal.user_id}:{amounts}"


async def account_summary(uow: UnitOfWork, principal: Principal, account_id: UUID) -> tuple[JsonBody, bool]:
    """The summary as the caller may see it, as the JSON the API sends, and whether it came from the
    cache (whose entry is those bytes: a hit passes them through)."""
    state = get_shared_state()
    key = None
    try:
        gen = await generation(state, _generation_key(uow.tenant))
        key = f"crm:summary:{uow.tenant}:{gen}:{account_id}:{_viewer(principal)}"
        (cached,) = await state.get_many([key])
    except (RedisError, OSError):
        log.warning("summary_cache_unavailable")
        cached = None
    if cached is not None:
        return JsonBody(cached), True
    summary = await _compute(uow, account_id)
    if Permission.DEAL_AMOUNTS_READ not in principal.permissions:
        summary = summary.model_copy(update={"open_deal_value": None})
    shown = summary.model_dump_json()
    if key is not None:
        try:
            await state.put(key, shown, ENTRY_TTL_SECONDS)
        except (RedisError, OSError):
            log.warning("summary_cache_unavailable")
    return JsonBody(shown), False
