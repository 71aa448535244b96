"""Saved list filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


class SavedView(TenantMixin, Base):
    """A member's named set of list filters for one record type; shared ones are seen by everyone in
    the organisation, changed only by their member."""

    __tablename__ = "saved_views"

    id: Mapped[UUID] = uuid_pk()
    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    user_id: Mapped[UUID] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    record_type: Mapped[str] = mapped_column(String(8), nullable=False)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    shared: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
