"""Demo data for `make dev`: an organisation, its API key, the web app's client, a user per role (two
Sales Reps) in one sales team, and a CRM full of records (keel.demo_data plans them).

The users and every record are written in one transaction, as the people who own them would write
them: through the domains' services, so the same rules hold and the audit trail records each change.
Only what no service can say is set here: when things happened (the plan's dates, months back) and a
deal's stage history with those dates, written with the deal."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import func, select, update

from keel import demo_data, models
from keel.access.roles import BUILT_IN
from keel.access.service import add_team_member, create_team
from keel.accounts.schemas import AccountCreate
from keel.accounts.service import create_account, mark_customer
from keel.activities.flows import log_activity
from keel.activities.schemas import ActivityCreate
from keel.contacts.schemas import ContactCreate
from keel.contacts.service import create_contact
from keel.core.audit_trail import changed_fields, record_event
from keel.core.config import Settings
from keel.core.db import runtime_database
from keel.core.keyring import get_key_ring
from keel.core.platform import platform_unit_of_work
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork, job_unit_of_work
from keel.deals.schemas import DealCreate
from keel.deals.service import deal_snapshot  # the audit rows real moves write
from keel.identity.api_keys import issue_api_key
from keel.identity.clients import WEB_APP_CLIENT_ID, register_client
from keel.identity.signing_keys import current_signing_key, rotate_signing_key
from keel.identity.users import add_membership, create_user
from keel.leads.flows import convert_lead
from keel.leads.schemas import ConversionDeal, LeadConversion, LeadCreate, LeadPatch
from keel.leads.service import create_lead, update_lead
from keel.models import Deal, DealStageChange, Membership, OAuthClient, Pipeline, Stage
from keel.onboarding.flows import onboard_organization
from keel.organizations import service as organizations
from keel.tickets.schemas import TicketCreate, TicketPatch
from keel.tickets.service import create_ticket, update_ticket

DEMO_SLUG = "demo"
DEMO_DOMAIN = "demo.keel.localhost"
TEAM = "Field Sales"
# (who, role, name): who is also the e-mail's local part (`sales_rep_2` → sales-rep-2@…).
DEMO_USERS = [
    ("org_admin", "org_admin", "Org Admin"), ("manager", "manager", "Manager"),
    ("sales_rep", "sales_rep", "Sales Rep"), ("sales_rep_2", "sales_rep", "Sales Rep 2"),
    ("finance", "finance", "Finance"), ("support", "support", "Support"),
]  # fmt: skip
TICKET_MOVES = {"pending": ["pending"], "solved": ["solved"], "closed": ["solved", "closed"]}  # from open


@dataclass
class DemoSeed:
    created: bool
    api_key: str | None = None
    users: list[tuple[str, str, str]] = field(default_factory=list)  # (role, e-mail, password)


def demo_email(who: str) -> str:
    return f"{who.replace('_', '-')}@{DEMO_DOMAIN}"


def demo_anchor() -> datetime:
    """What the demo's dates count back from: today at midnight (UTC)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def seed_demo(
    settings: Settings, operator: str, *, with_data: bool = True, anchor: datetime | None = None
) -> DemoSeed:
    """Create what is missing (idempotent). Passwords are random and shown once, here. Without
    `with_data` the organisation gets its users and team but no CRM records. The data counts back from
    `anchor` (today at midnight UTC unless given)."""
    async with runtime_database().sessions() as session:
        has_key = await current_signing_key(session, get_key_ring()) is not None
        has_client = await session.get(OAuthClient, WEB_APP_CLIENT_ID) is not None
    if not has_key:
        async with platform_unit_of_work(operator) as uow:
            await rotate_signing_key(uow, get_key_ring())
    if not has_client:
        callback = f"http://127.0.0.1:{settings.web_port}/auth/callback"
        async with platform_unit_of_work(operator) as uow:
            await register_client(uow, WEB_APP_CLIENT_ID, "Keel web app", [callback], first_party=True)
    api_key = None
    async with platform_unit_of_work(operator) as uow:
        org = next((o for o in await organizations.list_organizations(uow) if o.slug == DEMO_SLUG), None)
        if org is None:
            org, api_key = await onboard_organization(uow, "Demo Company", DEMO_SLUG)
    async with job_unit_of_work(runtime_database(), org.id) as uow:
        # Members are written with the data, in this one transaction: members mean a finished seed.
        if await uow.session.scalar(select(func.count()).select_from(Membership)):
            return DemoSeed(created=False)
        if api_key is None:  # an earlier seed stopped before this point: its key was never shown
            _, api_key = await issue_api_key(uow, "Demo key", created_by=operator)
        seed = DemoSeed(created=True, api_key=api_key)
        writer = _Writer(uow, await _add_people(uow, seed))
        await writer.team()
        if with_data:
            await writer.fill(demo_data.build(anchor or demo_anchor()))
    return seed


async def _add_people(uow: UnitOfWork, seed: DemoSeed) -> dict[str, tuple[UUID, str]]:
    people = {}
    for who, role, name in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        user = await create_user(uow, demo_email(who), password, name=name, verified=True)
        await add_membership(uow, user.id, role)
        seed.users.append((role, demo_email(who), password))
        people[who] = (user.id, role)
    return people


M = TypeVar("M", bound=BaseModel)


def _body(schema: type[M], plan: object, *fields: str, **values: Any) -> M:
    """A request body from the plan's fields of these names, checked as a request's would be."""
    return schema.model_validate({f: getattr(plan, f) for f in fields} | values)


class _Writer:
    """Writes the plan, each record as its owner (their role's permissions and record scope)."""

    def __init__(self, uow: UnitOfWork, people: dict[str, tuple[UUID, str]]) -> None:
        self.uow, self.people, self.acting = uow, people, ""
        self.ids: dict[str, list[UUID]] = {"account": [], "contact": [], "deal": [], "ticket": []}
        self.dates: dict[type[Any], dict[UUID, dict[str, Any]]] = {}  # per model and row: real dates

    async def act(self, who: str) -> Principal:
        user_id, role = self.people[who]
        grant = BUILT_IN[role]
        if self.acting != who:
            await self.uow.session.flush()  # what the last one wrote is checked against their scope
            scope = grant.record_scope
            await self.uow.enter_tenant(
                self.uow.tenant, user_id=user_id, actor=f"user:{user_id}", record_scope=scope
            )
            self.acting = who
        return Principal(
            org_id=self.uow.tenant,
            actor=f"user:{user_id}",
            user_id=user_id,
            roles=(role,),
            permissions=grant.permissions,
            record_scope=grant.record_scope,
        )

    def dated(self, model: type[Any], record_id: UUID, **dates: datetime | None) -> dict[str, Any]:
        row = self.dates.setdefault(model, {}).setdefault(record_id, {"id": record_id})
        row.update(dates)
        return row

    async def team(self) -> None:
        await self.act("org_admin")
        team = await create_team(self.uow, TEAM)
        for who in ("manager", "sales_rep", "sales_rep_2"):
            await add_team_member(self.uow, team.id, self.people[who][0])

    async def fill(self, data: demo_data.DemoData) -> None:
        uow, ids = self.uow, self.ids
        account_fields = ("name", "domain", "industry", "size", "country", "lifecycle_stage", "tags")
        for a in data.accounts:
            owner = await self.act(a.owner)
            account = await create_account(uow, owner, _body(AccountCreate, a, *account_fields))
            ids["account"].append(account.id)
            self.dated(models.Account, account.id, created_at=a.created_at, updated_at=a.created_at)
        for c in data.contacts:
            linked = [ids["account"][i] for i in c.accounts]
            fields = ("first_name", "last_name", "title", "email", "phone")
            person = _body(ContactCreate, c, *fields, account_ids=linked, primary_account_id=linked[0])
            contact = await create_contact(uow, await self.act(c.owner), person)
            ids["contact"].append(contact.id)
            self.dated(models.Contact, contact.id, created_at=c.created_at, updated_at=c.created_at)
        default = select(Stage).join(Pipeline).where(Pipeline.is_default)
        stages = {s.name: s for s in await uow.session.scalars(default)}
        for d in data.deals:
            ids["deal"].append(await self.deal(d, stages))
        for lead in data.leads:
            await self.lead(lead)
        for t in data.tickets:
            await self.ticket(t)
        for activity in data.activities:
            await self.activity(activity)
        await self.act("org_admin")  # sees every record: puts each at the time it happened
        for model, rows in self.dates.items():
            await uow.session.execute(update(model), list(rows.values()))

    async def deal(self, plan: demo_data.DealPlan, stages: dict[str, Stage]) -> UUID:
        """The deal and its moves through the pipeline, each at its time, in its history and its trail."""
        uow, principal = self.uow, await self.act(plan.owner)
        account_id, contact_id = self.ids["account"][plan.account], self.ids["contact"][plan.contact]
        fields = ("name", "amount_minor", "currency", "expected_close_date", "source", "tags")
        body = _body(DealCreate, plan, *fields, account_id=account_id, primary_contact_id=contact_id)
        first, created = plan.moves[0]
        deal = Deal(
            org_id=uow.tenant,
            **body.model_dump(exclude={"pipeline_id", "stage_id", "owner_id", "tags"}),
            pipeline_id=stages[first].pipeline_id,
            stage_id=stages[first].id,
            owner_id=principal.user_id,
            tags=sorted(body.tags),
            created_at=created,
            updated_at=created,
            stage_entered_at=created,
        )
        uow.session.add(deal)
        await uow.session.flush()
        await record_event(
            uow, "deal.created", entity_type="deal", entity_id=deal.id, after=deal_snapshot(deal)
        )
        previous: UUID | None = None
        for n, (name, at) in enumerate(plan.moves):
            stage = stages[name]
            if n:
                before = deal_snapshot(deal)
                deal.stage_id, deal.stage_entered_at, deal.updated_at = stage.id, at, at
                deal.closed_at = at if stage.outcome != "open" else None
                deal.lost_reason = plan.lost_reason if stage.outcome == "lost" else None
                deal.version += 1
                old, new = changed_fields(before, deal_snapshot(deal))
                await record_event(
                    uow, "deal.updated", entity_type="deal", entity_id=deal.id, before=old, after=new
                )
            change = DealStageChange(from_stage_id=previous, to_stage_id=stage.id, changed_at=at)
            uow.session.add(change)
            change.org_id, change.deal_id, change.changed_by = uow.tenant, deal.id, principal.user_id
            previous = stage.id
        if stages[plan.moves[-1][0]].outcome == "won":
            await mark_customer(uow, deal.account_id, won_deal_id=deal.id)
            row = self.dated(models.Account, deal.account_id)
            row["updated_at"] = max(row["updated_at"], plan.moves[-1][1])
        return deal.id

    async def lead(self, plan: demo_data.LeadPlan) -> None:
        uow, principal = self.uow, await self.act(plan.owner)
        fields = ("first_name", "last_name", "company", "title", "email", "phone", "country", "source")
        lead = await create_lead(uow, principal, _body(LeadCreate, plan, *fields))
        if plan.status != "new":
            status = "qualified" if plan.status == "converted" else plan.status
            patch = _body(LeadPatch, plan, "disqualified_reason", status=status)
            lead = await update_lead(uow, principal, lead.id, patch, expected_version=lead.version)
        if plan.deal is not None:  # converted today: the deal it opens starts its history now
            deal = ConversionDeal.model_validate(asdict(plan.deal))
            await convert_lead(uow, principal, lead.id, LeadConversion(deal=deal))
            self.dated(models.Lead, lead.id, created_at=plan.created_at)
        else:
            self.dated(models.Lead, lead.id, created_at=plan.created_at, updated_at=plan.updated_at)

    async def ticket(self, plan: demo_data.TicketPlan) -> None:
        uow, support = self.uow, await self.act("support")
        account_id, contact_id = self.ids["account"][plan.account], self.ids["contact"][plan.contact]
        fields = ("subject", "description", "priority")
        body = _body(TicketCreate, plan, *fields, account_id=account_id, contact_id=contact_id)
        ticket = await create_ticket(uow, support, body.model_copy(update={"assignee_id": support.user_id}))
        self.ids["ticket"].append(ticket.id)
        if plan.reply is not None:  # answered before it moves on: the answer is its first response
            await self.activity(plan.reply)
        for status in TICKET_MOVES.get(plan.status, []):
            patch = TicketPatch.model_validate({"status": status})
            ticket = await update_ticket(uow, support, ticket.id, patch, expected_version=ticket.version)
        answered = plan.reply and plan.reply.occurred_at
        last = plan.closed_at or plan.resolved_at or answered or plan.created_at
        dates = {"resolved_at": plan.resolved_at, "closed_at": plan.closed_at}
        self.dated(models.Ticket, ticket.id, created_at=plan.created_at, updated_at=last, **dates)

    async def activity(self, plan: demo_data.ActivityPlan) -> None:
        principal = await self.act(plan.owner)
        links = {f"{target}_id": self.ids[target][i] for target, i in plan.links.items()}
        assignee = self.people[plan.assignee][0] if plan.assignee else None
        fields = ("kind", "subject", "body", "occurred_at", "due_at")
        body = _body(
            ActivityCreate, plan, *fields, done=plan.done_at is not None, assignee_id=assignee, **links
        )
        activity = await log_activity(self.uow, principal, body)
        when, done = plan.occurred_at, plan.done_at
        self.dated(models.Activity, activity.id, created_at=when, updated_at=done or when, done_at=done)


def save_demo(seed: DemoSeed, data_dir: Path) -> None:
    """Keep the demo credentials under the data directory (owner-only), for `make dev` to show again."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if seed.api_key:
        _write_private(data_dir / "demo-api-key", seed.api_key + "\n")
    if seed.users:
        lines = [f"{role}\t{email}\t{password}" for role, email, password in seed.users]
        _write_private(data_dir / "demo-users", "\n".join(lines) + "\n")


def _write_private(path: Path, content: str) -> None:
    path.write_text(content)
    path.chmod(0o600)
