"""Rules that choose an owner for records created without one."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from keel.models.base import Base, TenantMixin, created_at_column, uuid_pk


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
    owner_id: Mapped[UUID | None] = mapped_column("member_id")  # the member it gives records to
    team_id: Mapped[UUID | None] = mapped_column()
    last_user_id: Mapped[UUID | None] = mapped_column()
    version: Mapped[int] = mapped_column(nullable=False, server_default="1")
    created_at: Mapped[datetime] = created_at_column()
