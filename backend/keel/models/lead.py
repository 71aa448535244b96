"""Leads, before they become an account, a contact and a deal."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, OwnedMixin, TenantMixin, created_at_column, uuid_pk


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
    external_id: Mapped[str | None] = mapped_column(String(100))  # the id in the system it came from
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
