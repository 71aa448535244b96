"""Statements run on the transaction's psycopg connection: compiled once per shape, each call with its own
values, in the unit of work's transaction and tenant context."""

from __future__ import annotations

from uuid import uuid4

import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.dialects import postgresql

from keel.core.db import runtime_database
from keel.core.statements import driver_sql, fixed, rows
from keel.core.uow import UnitOfWork
from keel.models import AuditEvent, Contact
from tests.conftest import Org

DIALECT = postgresql.psycopg.dialect()  # type: ignore[attr-defined]


def test_statements_of_one_shape_share_their_sql_and_keep_their_own_values() -> None:
    first, second = uuid4(), uuid4()
    sql_1, values_1 = driver_sql(select(Contact.id).where(Contact.owner_id == first), DIALECT)
    sql_2, values_2 = driver_sql(select(Contact.id).where(Contact.owner_id == second), DIALECT)
    assert sql_1 == sql_2
    assert list(values_1.values()) == [first] and list(values_2.values()) == [second]
    other_shape, _ = driver_sql(select(Contact.id).where(Contact.assignee_id == first), DIALECT)
    assert other_shape != sql_1


def test_a_text_statement_takes_its_values_per_call() -> None:
    statement = text("SELECT :a || :b")
    assert driver_sql(statement, DIALECT, {"a": "x", "b": "y"})[1] == {"a": "x", "b": "y"}
    assert driver_sql(statement, DIALECT, {"a": "p", "b": "q"})[1] == {"a": "p", "b": "q"}


def test_a_fixed_statement_takes_each_calls_values_for_its_parameters() -> None:
    owner = bindparam("owner", type_=Uuid)
    statement = fixed(select(Contact.id).where(Contact.owner_id == owner))
    first, second = uuid4(), uuid4()
    sql_1, values_1 = driver_sql(statement, DIALECT, {"owner": first})
    sql_2, values_2 = driver_sql(statement, DIALECT, {"owner": second})
    assert sql_1 == sql_2 and "%(owner)s" in sql_1
    assert values_1 == {"owner": first} and values_2 == {"owner": second}


def test_values_pass_through_their_types_bind_processing() -> None:
    # JSONB values are wrapped by the column type for psycopg, as the ORM would send them.
    _, values = driver_sql(select(Contact.id).where(Contact.custom.contains({"tier": "gold"})), DIALECT)
    (value,) = values.values()
    assert isinstance(value, Jsonb) and value.obj == {"tier": "gold"}


def test_a_statement_whose_sql_depends_on_its_values_is_refused() -> None:
    with pytest.raises(ValueError, match="ANY"):
        driver_sql(select(Contact.id).where(Contact.id.in_([uuid4(), uuid4()])), DIALECT)


async def test_rows_run_in_the_unit_of_works_transaction_and_tenant(org_a: Org, org_b: Org) -> None:
    async with runtime_database().sessions() as session:
        uow = UnitOfWork(session)
        await uow.enter_tenant(org_a.id)
        tenant = await rows(session, text("SELECT current_setting('app.org_id')"))
        assert tenant == [(str(org_a.id),)]
        # Row-level security applies: organisation B's trail is not visible from A's context.
        organisations = await rows(session, select(func.count()).where(AuditEvent.org_id == org_b.id))
        assert organisations == [(0,)]
        # The same transaction as the ORM: what the ORM wrote is seen, then rolled back with it.
        await session.execute(text("CREATE TEMPORARY TABLE seen (id uuid) ON COMMIT DROP"))
        marker = uuid4()
        await session.execute(text("INSERT INTO seen VALUES (:id)"), {"id": marker})
        assert await rows(session, text("SELECT id FROM seen")) == [(marker,)]
        await session.rollback()
    async with runtime_database().sessions() as session:
        assert await rows(session, text("SELECT current_setting('app.org_id', true)")) in ([("",)], [(None,)])


async def test_a_write_without_returning_gives_no_rows(org_a: Org) -> None:
    async with runtime_database().sessions() as session:
        await session.execute(text("CREATE TEMPORARY TABLE noted (id int) ON COMMIT DROP"))
        assert await rows(session, text("INSERT INTO noted VALUES (1)")) == []
        assert await rows(session, text("SELECT id FROM noted")) == [(1,)]
        await session.rollback()
