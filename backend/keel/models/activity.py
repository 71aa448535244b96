"""Notes, calls, e-mails, meetings and tasks on CRM records."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, OwnedMixin, TenantMixin, created_at_column, uuid_pk


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
