from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


class Role(TenantMixin, Base):
    """An organisation's own role: a named set of permissions and the records its members see."""

    __tablename__ = "roles"

    org_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    record_scope: Mapped[str] = mapped_column(String(8), nullable=False)
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Team(TenantMixin, Base):
    """People who work together: a Manager sees the records of everyone in their teams."""

    __tablename__ = "teams"

    id: Mapped[UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class TeamMember(TenantMixin, Base):
    __tablename__ = "team_members"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "team_id"], ["teams.org_id", "teams.id"], ondelete="CASCADE"),
    )

    org_id: Mapped[UUID] = mapped_column(primary_key=True)
    team_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = created_at_column()
