"""Per-organisation custom field definitions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


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
