from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, OwnedMixin, TenantMixin, created_at_column, uuid_pk


class Account(OwnedMixin, TenantMixin, Base):
    """A company that is or may become a customer. Owned: see keel.core.rls.owned_table."""

    __tablename__ = "accounts"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    domain: Mapped[str | None] = mapped_column(String(253))
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(2))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), nullable=False, server_default="prospect")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, server_default="{}")
    assignment_rule_id: Mapped[UUID | None] = mapped_column()
    custom: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Contact(OwnedMixin, TenantMixin, Base):
    """A person, linked to zero or more accounts (one primary). Owned: see keel.core.rls.owned_table."""

    __tablename__ = "contacts"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, server_default="{}")
    assignment_rule_id: Mapped[UUID | None] = mapped_column()
    custom: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ContactAccount(TenantMixin, Base):
    __tablename__ = "contact_accounts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "contact_id"], ["contacts.org_id", "contacts.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["org_id", "account_id"], ["accounts.org_id", "accounts.id"], ondelete="CASCADE"
        ),
    )

    org_id: Mapped[UUID] = mapped_column(primary_key=True)
    contact_id: Mapped[UUID] = mapped_column(primary_key=True)
    account_id: Mapped[UUID] = mapped_column(primary_key=True)
    is_primary: Mapped[bool] = mapped_column(nullable=False, server_default="false")


class Pipeline(TenantMixin, Base):
    """An ordered list of stages a deal moves through. Every organisation starts with one, its default."""

    __tablename__ = "pipelines"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    is_default: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()


class Stage(TenantMixin, Base):
    __tablename__ = "stages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "pipeline_id"], ["pipelines.org_id", "pipelines.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[UUID] = uuid_pk()
    pipeline_id: Mapped[UUID] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    probability: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    outcome: Mapped[str] = mapped_column(String(8), nullable=False, server_default="open")


class Deal(OwnedMixin, TenantMixin, Base):
    """A sale in progress: an amount at a stage of a pipeline. Owned: see keel.core.rls.owned_table."""

    __tablename__ = "deals"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "account_id"], ["accounts.org_id", "accounts.id"]),
        ForeignKeyConstraint(["org_id", "primary_contact_id"], ["contacts.org_id", "contacts.id"]),
        ForeignKeyConstraint(
            ["org_id", "pipeline_id", "stage_id"], ["stages.org_id", "stages.pipeline_id", "stages.id"]
        ),
    )

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    account_id: Mapped[UUID] = mapped_column(nullable=False)
    primary_contact_id: Mapped[UUID | None] = mapped_column()
    pipeline_id: Mapped[UUID] = mapped_column(nullable=False)
    stage_id: Mapped[UUID] = mapped_column(nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(50))
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, server_default="{}")
    assignment_rule_id: Mapped[UUID | None] = mapped_column()
    custom: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    stage_entered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DealStageChange(TenantMixin, Base):
    """One move of a deal between stages (from is empty for the first): what conversion and velocity
    reports are computed from. Append-only."""

    __tablename__ = "deal_stage_changes"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "deal_id"], ["deals.org_id", "deals.id"], ondelete="CASCADE"),
    )

    id: Mapped[UUID] = uuid_pk()
    deal_id: Mapped[UUID] = mapped_column(nullable=False)
    from_stage_id: Mapped[UUID | None] = mapped_column()
    to_stage_id: Mapped[UUID] = mapped_column(nullable=False)
    changed_by: Mapped[UUID | None] = mapped_column()
    changed_at: Mapped[datetime] = created_at_column()


class Lead(OwnedMixin, TenantMixin, Base):
    """Unqualified interest in buying. Converted once into an account, a contact and (usually) a deal,
    which it keeps links to. Owned: see keel.core.rls.owned_table."""

    __tablename__ = "leads"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    last_name: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    company: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="new")
    disqualified_reason: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, server_default="{}")
    assignment_rule_id: Mapped[UUID | None] = mapped_column()
    custom: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    converted_by: Mapped[UUID | None] = mapped_column()
    account_id: Mapped[UUID | None] = mapped_column()
    contact_id: Mapped[UUID | None] = mapped_column()
    deal_id: Mapped[UUID | None] = mapped_column()


class Ticket(OwnedMixin, TenantMixin, Base):
    """A customer's support request. Owned (the assignee is the agent working it); readable too by
    whoever sees its account."""

    __tablename__ = "tickets"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    account_id: Mapped[UUID | None] = mapped_column()
    contact_id: Mapped[UUID | None] = mapped_column()
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    status: Mapped[str] = mapped_column(String(8), nullable=False, server_default="open")
    priority: Mapped[str] = mapped_column(String(8), nullable=False, server_default="normal")
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, server_default="{}")
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Activity(OwnedMixin, TenantMixin, Base):
    """A note, call, e-mail, meeting or task on accounts, contacts, deals or tickets. Owned by its
    author (a task's assignee does it); readable too by whoever sees a record it is on."""

    __tablename__ = "activities"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    body: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    account_id: Mapped[UUID | None] = mapped_column()
    contact_id: Mapped[UUID | None] = mapped_column()
    deal_id: Mapped[UUID | None] = mapped_column()
    ticket_id: Mapped[UUID | None] = mapped_column()
    occurred_at: Mapped[datetime] = created_at_column()
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class AssignmentRule(TenantMixin, Base):
    """Chooses the owner of a new record of one type: conditions (countries, a deal amount band) and a
    target (one member, or a team's members in turn). Evaluated in `position` order; the first that
    matches wins, and the record keeps its id."""

    __tablename__ = "assignment_rules"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    record_type: Mapped[str] = mapped_column(String(8), nullable=False)
    position: Mapped[int] = mapped_column(nullable=False)
    active: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)), nullable=False, server_default="{}")
    currency: Mapped[str | None] = mapped_column(String(3))
    min_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    max_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[UUID | None] = mapped_column()
    team_id: Mapped[UUID | None] = mapped_column()
    last_user_id: Mapped[UUID | None] = mapped_column()
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()


class CustomField(TenantMixin, Base):
    """An organisation's own field on one record type; records keep its values in `custom`."""

    __tablename__ = "custom_fields"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    record_type: Mapped[str] = mapped_column(String(8), nullable=False)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    options: Mapped[list[str]] = mapped_column(ARRAY(String(100)), nullable=False, server_default="{}")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
