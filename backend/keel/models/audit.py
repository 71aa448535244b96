from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    DateTime,
    FetchedValue,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


class AuditEvent(TenantMixin, Base):
    """Who did what inside one organisation. Written in the transaction of the change it records.

    Partitioned by category and month (migration 0008); the database's primary key is
    (org_id, category, seq, created_at), `id` identifies a row for the ORM and in the API.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id_created_at_id", "org_id", "created_at", "id"),)

    id: Mapped[UUID] = uuid_pk()
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    # clock_timestamp(), not now(): rows of one transaction keep the order they were written in.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp(), nullable=False
    )
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(200))  # the OAuth client a user acted through
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(50), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Set by the database (trigger keel.audit_chain): place in the organisation's chain of this
    # category, and its hashes.
    seq: Mapped[int] = mapped_column(BigInteger, FetchedValue(), nullable=False)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32), FetchedValue(), nullable=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), FetchedValue(), nullable=False)


class PlatformAuditEvent(Base):
    """Platform-level actions (creating or listing organisations). Only the platform role sees these."""

    __tablename__ = "platform_audit_events"
    __table_args__ = (Index("ix_platform_audit_events_created_at", "created_at"),)

    id: Mapped[UUID] = uuid_pk()
    created_at: Mapped[datetime] = created_at_column()
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    target_org_id: Mapped[UUID | None] = mapped_column()
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class SecurityEvent(Base):
    """A user account's security event (sign-in, second factor, password, e-mail). Appended only by
    the definer function `keel.record_security_event`; a user reads only their own."""

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_user_id_created_at_id", "user_id", "created_at", "id"),
        UniqueConstraint("subject", "seq"),
    )

    id: Mapped[UUID] = uuid_pk()
    created_at: Mapped[datetime] = created_at_column()
    subject: Mapped[str] = mapped_column(Text, nullable=False)  # "user:<id>" or "email:<address tried>"
    user_id: Mapped[UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    seq: Mapped[int] = mapped_column(BigInteger, FetchedValue(), nullable=False)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32), FetchedValue(), nullable=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), FetchedValue(), nullable=False)


class ComplianceExport(TenantMixin, Base):
    """A zip for auditors (audit trail, members, permission matrix, manifest), built by a job."""

    __tablename__ = "compliance_exports"
    __table_args__ = (Index("ix_compliance_exports_org_id_created_at_id", "org_id", "created_at", "id"),)

    id: Mapped[UUID] = uuid_pk()
    requested_by: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    archive: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
