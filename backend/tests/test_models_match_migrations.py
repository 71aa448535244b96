"""The ORM models and the migrated database agree: Alembic's autogenerate finds nothing to do.

Migrations are where the schema is made (ADR 0002): row-level security, partitions, trigram and
partial indexes, composite foreign keys with `ON DELETE SET NULL (column)` have no ORM spelling. So a
model must declare every table, column, type, nullability and server default exactly as migrated, and
nothing (index, key, constraint) that the database lacks; indexes and constraints that only the
migrations declare are the database's own business.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from keel.models import Base
from tests.conftest import DatabaseUnderTest

# Differences that only say "the database has an index or constraint the model does not mention".
ONLY_IN_MIGRATIONS = {"remove_index", "remove_fk", "remove_constraint"}


def _differences(database: DatabaseUnderTest) -> list[tuple[Any, ...]]:
    tables = {table.name for table in Base.metadata.tables.values()}

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        if type_ == "schema":
            return name == "keel"
        return type_ != "table" or name in tables  # procrastinate's and the audit partitions are not ours

    engine = create_engine(database.admin)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_schemas": True,
                    "include_name": include_name,
                },
            )
            found = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    flat: list[tuple[Any, ...]] = []
    for item in found:  # column changes come as a list per column
        flat += item if isinstance(item, list) else [item]
    return flat


def test_autogenerate_finds_no_difference_between_the_models_and_the_migrations(
    test_database: DatabaseUnderTest,
) -> None:
    differences = [d for d in _differences(test_database) if d[0] not in ONLY_IN_MIGRATIONS]
    assert differences == [], "models and migrations disagree:\n" + "\n".join(
        repr(d)[:300] for d in differences
    )


def test_the_comparison_sees_every_table_of_the_models(test_database: DatabaseUnderTest) -> None:
    """Guards the test above: were the filter wrong, every model table would be missing, not equal."""
    assert all(d[0] != "add_table" for d in _differences(test_database))
    assert len(Base.metadata.tables) >= 30
