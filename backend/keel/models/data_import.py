"""CSV imports and the ledger that can roll one back."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


class Import(TenantMixin, Base):
    """A CSV import of accounts, contacts or deals: the file, how its columns map to fields, progress,
    and the rows that could not be taken (with why)."""

    __tablename__ = "imports"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    record_type: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="queued")
    dry_run: Mapped[bool] = mapped_column(nullable=False)
    upsert_by: Mapped[str | None] = mapped_column(String(12))
    mapping: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False, deferred=True)
    delimiter: Mapped[str] = mapped_column(String(1), nullable=False)
    total_rows: Mapped[int] = mapped_column(nullable=False)
    rows_done: Mapped[int] = mapped_column(nullable=False, server_default="0")
    created: Mapped[int] = mapped_column(nullable=False, server_default="0")
    updated: Mapped[int] = mapped_column(nullable=False, server_default="0")
    failed: Mapped[int] = mapped_column(nullable=False, server_default="0")
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    requested_by: Mapped[UUID | None] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportChange(TenantMixin, Base):
    """A record an import created, or changed (with the row as it was before): what rolling the import
    back undoes."""

    __tablename__ = "import_changes"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "import_id"], ["imports.org_id", "imports.id"], ondelete="CASCADE"),
    )

    org_id: Mapped[UUID] = mapped_column(primary_key=True)
    import_id: Mapped[UUID] = mapped_column(primary_key=True)
    record_id: Mapped[UUID] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(8), nullable=False)
    created: Mapped[bool] = mapped_column(nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
