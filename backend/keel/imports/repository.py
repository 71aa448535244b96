"""The queries of imports: the import itself, the bulk writes of its chunks, its ledger and its rollback.
The bulk writes are raw SQL, which the session's change tracking does not see: each one names the
table it wrote in the unit of work, so caches reading that table learn of the change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.pagination import PageParams, keyset_page, newest_first
from keel.core.uow import UnitOfWork
from keel.models import Account, Contact, Deal, Import, ImportChange, Membership, Pipeline, Stage, User

Record = type[Account | Contact | Deal]


async def import_by_id(session: AsyncSession, import_id: UUID, *, for_update: bool = False) -> Import | None:
    query = select(Import).where(Import.id == import_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def import_to_run(session: AsyncSession, import_id: UUID) -> Import | None:
    return await session.get(Import, import_id)


async def import_locked(session: AsyncSession, import_id: UUID) -> Import:
    return await session.get_one(Import, import_id, with_for_update=True)


async def file_of_import(session: AsyncSession, import_id: UUID) -> str:
    """The CSV text (not loaded with the import: it can be large)."""
    return await session.scalar(select(Import.content).where(Import.id == import_id)) or ""


async def page_of_imports(session: AsyncSession, params: PageParams) -> tuple[Sequence[Import], str | None]:
    return await keyset_page(
        session, select(Import), sort=newest_first(Import.created_at, Import.id), params=params
    )


async def member_ids_by_email(session: AsyncSession) -> dict[str, UUID]:
    """Each member's user id by their lower-cased e-mail address."""
    members = await session.execute(
        select(func.lower(User.email), Membership.user_id).join(User, User.id == Membership.user_id)
    )
    return {email: user_id for email, user_id in members}


async def stages_with_pipelines(session: AsyncSession) -> Sequence[tuple[str, bool, Stage]]:
    """Every stage, with its pipeline's name and whether that pipeline is the default."""
    rows = await session.execute(select(Pipeline.name, Pipeline.is_default, Stage).join(Stage))
    return [(name, is_default, stage) for name, is_default, stage in rows]


async def plan_for_tables_as_they_are(session: AsyncSession) -> None:
    """Plan each statement of the transaction afresh, for the tables as they are now (a cached plan may
    date from when they were small)."""
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _groups(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Rows by their columns: each group is one statement (a column a row lacks keeps its default)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups


async def insert_rows(uow: UnitOfWork, table: str, rows: list[dict[str, Any]]) -> None:
    """Many rows in one statement per group, passed as one JSON array: a few round trips for a chunk of
    thousands (row-level security checks each row as for any insert)."""
    for columns, group in _groups(rows).items():
        names = ", ".join(columns)
        await uow.session.execute(
            text(
                f"INSERT INTO keel.{table} ({names}) SELECT {names} "
                f"FROM jsonb_populate_recordset(NULL::keel.{table}, CAST(:rows AS jsonb))"
            ),
            {"rows": json.dumps(group, default=str)},
        )
    uow.changed_tables.add(table)


async def update_rows(uow: UnitOfWork, table: str, rows: list[dict[str, Any]]) -> None:
    """Many rows, each by its `id`, in one statement per group of the same columns."""
    for columns, group in _groups(rows).items():
        sets = ", ".join(f"{c} = x.{c}" for c in columns if c != "id")
        # The ids drive the update through the primary key: a table just filled has no statistics yet,
        # and the planner would otherwise read the JSON once per row of the organisation.
        await uow.session.execute(
            text(
                f"WITH x AS MATERIALIZED (SELECT * FROM jsonb_populate_recordset(NULL::keel.{table}, "
                f"CAST(:rows AS jsonb))) UPDATE keel.{table} t SET {sets}, version = t.version + 1, "
                "updated_at = now() FROM x WHERE t.id = x.id AND t.id = ANY(:ids)"
            ),
            {"rows": json.dumps(group, default=str), "ids": [row["id"] for row in group]},
        )
    uow.changed_tables.add(table)


async def accounts_by(session: AsyncSession, column: str, values: set[str]) -> Sequence[Account]:
    """The accounts whose `column` (external_id or domain) is one of `values`."""
    return (await session.scalars(select(Account).where(getattr(Account, column).in_(values)))).all()


async def ids_by_key(
    session: AsyncSession, model: Record, column: str, keys: list[str]
) -> dict[str, list[UUID]]:
    """The records whose `column` (the upsert key) is one of `keys`, their ids by key."""
    key_column = getattr(model, column)
    found: dict[str, list[UUID]] = {}
    for record_id, key in await session.execute(select(model.id, key_column).where(key_column.in_(keys))):
        found.setdefault(key, []).append(record_id)
    return found


async def rows_as_they_are(session: AsyncSession, table: str, ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    """Each record as a JSON row, by id (without its search vector): what the ledger keeps to restore."""
    rows = await session.execute(
        text(f"SELECT t.id, to_jsonb(t) - 'search' FROM keel.{table} t WHERE t.id = ANY(:ids)"), {"ids": ids}
    )
    return {row_id: before for row_id, before in rows}


async def in_ledger(session: AsyncSession, import_id: UUID, record_ids: list[UUID]) -> set[UUID]:
    """Those of the records the import's ledger holds already."""
    return set(
        await session.scalars(
            select(ImportChange.record_id).where(
                ImportChange.import_id == import_id, ImportChange.record_id.in_(record_ids)
            )
        )
    )


async def accounts_to_become_customers(session: AsyncSession, won_deal_ids: set[UUID]) -> list[UUID]:
    """The accounts of these won deals that are not customers yet."""
    return list(
        await session.scalars(
            select(Deal.account_id)
            .join(Account, Account.id == Deal.account_id)
            .where(Deal.id.in_(won_deal_ids), Account.lifecycle_stage != "customer")
            .distinct()
        )
    )


async def make_customers(uow: UnitOfWork, account_ids: list[UUID], at: datetime) -> None:
    await uow.session.execute(
        update(Account)
        .where(Account.id.in_(account_ids))
        .values(lifecycle_stage="customer", version=Account.version + 1, updated_at=at)
    )
    uow.changed_tables.add("accounts")


async def restore_changed(
    uow: UnitOfWork, import_id: UUID, record_type: str, table: str, columns: str
) -> None:
    """The records of a type the import changed put back as the ledger kept them."""
    # Joined on the ledger's key, so each restored row is one index lookup whatever the planner believes
    # about freshly filled tables.
    await uow.session.execute(
        text(
            f"UPDATE keel.{table} t SET ({columns}) = (SELECT {columns} "
            f"FROM jsonb_populate_record(NULL::keel.{table}, c.before)), "
            "version = t.version + 1, updated_at = now() "
            "FROM keel.import_changes c WHERE c.org_id = t.org_id AND c.import_id = :import_id "
            f"AND c.record_id = t.id AND NOT c.created AND c.record_type = '{record_type}'"
        ),
        {"import_id": import_id},
    )
    uow.changed_tables.add(table)


async def remove_created(uow: UnitOfWork, import_id: UUID, record_type: str, table: str) -> None:
    """The records of a type the import created deleted."""
    await uow.session.execute(
        text(
            f"DELETE FROM keel.{table} WHERE id IN (SELECT record_id FROM keel.import_changes "
            f"WHERE import_id = :import_id AND created AND record_type = '{record_type}')"
        ),
        {"import_id": import_id},
    )
    uow.changed_tables.add(table)
