"""Writing one chunk of checked rows: new records inserted in bulk, existing ones (by the upsert key)
updated, and every record the import touched entered in its ledger, with the row as it was, so the
whole import can be rolled back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from keel.core.uow import UnitOfWork
from keel.imports import repository
from keel.imports.rows import Context, Prepared, RowError, choose_owner
from keel.models import Account, Contact, Deal, Import

MODELS: dict[str, type[Account | Contact | Deal]] = {"account": Account, "contact": Contact, "deal": Deal}
# What an import may write, and what rolling it back puts back, per table.
RESTORED: dict[str, tuple[str, ...]] = {
    "accounts": (
        "name", "domain", "industry", "size", "country", "lifecycle_stage", "owner_id", "assignee_id",
        "assignment_rule_id", "tags", "custom", "external_id",
    ),
    "contacts": (
        "first_name", "last_name", "title", "email", "phone", "owner_id", "assignee_id", "assignment_rule_id",
        "tags", "custom", "external_id",
    ),
    "deals": (
        "name", "account_id", "primary_contact_id", "pipeline_id", "stage_id", "amount_minor", "currency",
        "expected_close_date", "source", "lost_reason", "owner_id", "assignee_id", "assignment_rule_id",
        "tags", "custom", "external_id", "stage_entered_at", "closed_at",
    ),
}  # fmt: skip


@dataclass
class Written:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, row: Prepared, error: RowError) -> None:
        self.errors.append({"row": row.number, "field": error.field, "message": str(error)})


async def _accounts_by(uow: UnitOfWork, refs: set[tuple[str, str]]) -> dict[tuple[str, str], list[Account]]:
    found: dict[tuple[str, str], list[Account]] = {}
    for kind in ("external_id", "domain"):
        values = {
            v if kind == "external_id" else v.lower().removeprefix("www.") for k, v in refs if k == kind
        }
        if values:
            for account in await repository.accounts_by(uow.session, kind, values):
                found.setdefault((kind, getattr(account, kind)), []).append(account)
    return found


async def _ledger(
    uow: UnitOfWork, imp: Import, record_type: str, entries: list[tuple[UUID, dict[str, Any] | None]]
) -> None:
    await repository.insert_rows(
        uow,
        "import_changes",
        [
            {"org_id": imp.org_id, "import_id": imp.id, "record_id": rid, "record_type": record_type,
             "created": before is None, "before": before}
            for rid, before in entries
        ],
    )  # fmt: skip


async def write_chunk(uow: UnitOfWork, imp: Import, ctx: Context, rows: list[Prepared]) -> Written:
    """Create or update the chunk's records. Rows that fail a check here are reported, not written."""
    model = MODELS[imp.record_type]
    table = model.__tablename__
    written = Written()
    refs = {r.account_ref for r in rows if r.account_ref is not None}
    accounts = await _accounts_by(uow, refs) if refs else {}
    ready: list[tuple[Prepared, dict[str, Any], str | None]] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            values = dict(row.values)
            country = row.country
            if row.account_ref is not None:
                kind, ref = row.account_ref
                key = (kind, ref if kind == "external_id" else ref.lower().removeprefix("www."))
                matches = accounts.get(key, [])
                if len(matches) != 1:
                    why = "no account has" if not matches else f"{len(matches)} accounts have"
                    raise RowError(f"account_{kind}", f"account_{kind}: {why} {ref!r}")
                values["account_id"] = matches[0].id
                country = matches[0].country if imp.record_type == "deal" else country
            if row.key is not None:
                if row.key in seen:
                    raise RowError(imp.upsert_by, f"{imp.upsert_by}: the same as row {seen[row.key]}")
                seen[row.key] = row.number
        except RowError as error:
            written.refuse(row, error)
            continue
        ready.append((row, values, country))

    existing: dict[str, list[UUID]] = {}
    if imp.upsert_by:
        keys = [row.key for row, _, _ in ready if row.key is not None]
        existing = await repository.ids_by_key(uow.session, model, imp.upsert_by, keys)
    new, changed = [], []
    for row, values, country in ready:
        same = existing.get(row.key, []) if row.key is not None else []
        try:
            if len(same) > 1:
                raise RowError(imp.upsert_by, f"{imp.upsert_by}: {len(same)} {table} have {row.key!r}")
            if same:
                if row.owner_email:
                    values["owner_id"] = choose_owner(ctx, row, country)[0]
                changed.append((row, values, same[0]))
                continue
            # Only a new record needs an owner; an updated one keeps its own unless the row names one.
            values["owner_id"], values["assignment_rule_id"] = choose_owner(ctx, row, country)
            new.append((row, values))
        except RowError as error:
            written.refuse(row, error)
    await _create(uow, imp, ctx, new, written)
    await _update(uow, imp, changed, written)
    uow.changed_tables.add(table)
    return written


async def _create(
    uow: UnitOfWork, imp: Import, ctx: Context, rows: list[tuple[Prepared, dict[str, Any]]], written: Written
) -> None:
    if not rows:
        return
    model = MODELS[imp.record_type]
    now = datetime.now(UTC)
    records = []
    for row, values in rows:
        record = {"id": uuid4(), "org_id": imp.org_id, "custom": row.custom, "tags": [], **values}
        if row.stage is not None:
            record.update(pipeline_id=row.stage.pipeline_id, stage_id=row.stage.id, stage_entered_at=now)
            record["closed_at"] = now if row.stage.outcome != "open" else None
        records.append(record)
    ids = [record["id"] for record in records]
    # A contact's account is a link of its own (its primary account), not a column.
    links = [
        {"org_id": imp.org_id, "contact_id": r["id"], "account_id": r.pop("account_id"), "is_primary": True}
        for r in records
        if imp.record_type == "contact" and "account_id" in r
    ]
    await repository.insert_rows(uow, model.__tablename__, records)
    await repository.insert_rows(uow, "contact_accounts", links)
    await _ledger(uow, imp, imp.record_type, [(i, None) for i in ids])
    written.created += len(ids)
    if imp.record_type == "deal":
        await _enter_stages(uow, imp, ids, [r for r, _ in rows], [None] * len(ids), now)


async def _enter_stages(
    uow: UnitOfWork,
    imp: Import,
    ids: list[UUID],
    rows: list[Prepared],
    previous: Sequence[UUID | None],
    now: datetime,
) -> None:
    """The deals' stage history, and won deals make their accounts customers (kept in the ledger too)."""
    moves = [
        (i, r.stage, p) for i, r, p in zip(ids, rows, previous, strict=True) if r.stage and r.stage.id != p
    ]
    await repository.insert_rows(
        uow,
        "deal_stage_changes",
        [
            {"org_id": imp.org_id, "deal_id": i, "from_stage_id": p, "to_stage_id": s.id,
             "changed_by": imp.requested_by, "changed_at": now}
            for i, s, p in moves
            if s is not None
        ],
    )  # fmt: skip
    won = {i for i, s, _ in moves if s is not None and s.outcome == "won"}
    if not won:
        return
    accounts = await repository.accounts_to_become_customers(uow.session, won)
    if accounts:
        known = await repository.in_ledger(uow.session, imp.id, accounts)
        before = await repository.rows_as_they_are(
            uow.session, "accounts", [a for a in accounts if a not in known]
        )
        await _ledger(uow, imp, "account", list(before.items()))
        await repository.make_customers(uow, accounts, now)


async def _update(
    uow: UnitOfWork, imp: Import, rows: list[tuple[Prepared, dict[str, Any], UUID]], written: Written
) -> None:
    if not rows:
        return
    model = MODELS[imp.record_type]
    table = model.__tablename__
    known = await repository.in_ledger(uow.session, imp.id, [rid for _, _, rid in rows])
    before = await repository.rows_as_they_are(uow.session, table, [rid for _, _, rid in rows])
    await _ledger(uow, imp, imp.record_type, [(rid, before[rid]) for _, _, rid in rows if rid not in known])
    now = datetime.now(UTC)
    updates: list[dict[str, Any]] = []
    stage_rows, stage_ids, previous = [], [], []
    for row, values, record_id in rows:
        change = {k: v for k, v in values.items() if v is not None}
        change.pop("assignment_rule_id", None)
        if imp.record_type == "contact":
            change.pop("account_id", None)  # an updated contact keeps its accounts
        change["custom"] = {**before[record_id].get("custom", {}), **row.custom}
        if row.stage is not None and str(row.stage.id) != before[record_id]["stage_id"]:
            change.update(pipeline_id=row.stage.pipeline_id, stage_id=row.stage.id, stage_entered_at=now)
            change["closed_at"] = now if row.stage.outcome != "open" else None
            stage_rows.append(row)
            stage_ids.append(record_id)
            previous.append(UUID(before[record_id]["stage_id"]))
        updates.append({"id": record_id, **change})
    await repository.update_rows(uow, table, updates)
    written.updated += len(rows)
    if stage_ids:
        await _enter_stages(uow, imp, stage_ids, stage_rows, previous, now)
