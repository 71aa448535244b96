from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, MetaData, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

APP_SCHEMA = "keel"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(schema=APP_SCHEMA, naming_convention=NAMING_CONVENTION)


def uuid_pk() -> Mapped[UUID]:
    return mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class TenantMixin:
    """A row that belongs to one organisation; RLS keys on `org_id`."""

    org_id: Mapped[UUID] = mapped_column(nullable=False)


class OwnedMixin:
    """A record a member owns (and another may be assigned): what a member sees of it follows their
    role's record scope (keel.core.rls.owned_table, migration helper keel.core.rls.ownership_columns)."""

    owner_id: Mapped[UUID] = mapped_column(nullable=False)
    assignee_id: Mapped[UUID | None] = mapped_column()
