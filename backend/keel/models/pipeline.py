"""Sales pipelines and their ordered stages."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, ForeignKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


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
