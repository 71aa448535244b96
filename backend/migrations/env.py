"""Alembic runs as the owner role: the admin connection switches to it with SET ROLE."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from keel.core.config import get_settings
from keel.core.db import OWNER_ROLE, admin_url
from keel.models import Base

settings = get_settings()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.attributes.get("url") or admin_url(settings)
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SET ROLE {OWNER_ROLE}")
        connection.exec_driver_sql("SET search_path TO keel, procrastinate")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema="keel",
            include_schemas=False,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
