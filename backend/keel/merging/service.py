"""Merging duplicates: two records of one type (accounts, contacts) that are one company or person.
Everything that refers to the duplicate moves to the survivor, including records the caller cannot see
(they belong to the survivor now as they belonged to the duplicate); the survivor keeps its own values
and takes the duplicate's where it had none; the duplicate is deleted. Each record type's merge
(keel.accounts.merge, keel.contacts.merge) says what refers to it and audits the merge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from keel.access.ownership import keep_within_scope
from keel.core.errors import Problem
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.merging import repository
from keel.models import Account, Contact


async def pair_to_merge(
    uow: UnitOfWork,
    principal: Principal,
    model: type[Account | Contact],
    survivor_id: UUID,
    duplicate_id: UUID,
) -> tuple[Any, Any]:
    """The survivor and the duplicate, locked, once the caller may change both."""
    if survivor_id == duplicate_id:
        raise Problem(422, "A record cannot be merged into itself.")
    rows = await repository.records_locked(uow.session, model, [survivor_id, duplicate_id])
    if duplicate_id not in rows:
        raise Problem(422, "duplicate_id is not one you can see.")
    if survivor_id not in rows:
        raise Problem(404, "No such record.")
    for record in rows.values():
        keep_within_scope(principal, record.owner_id, record.assignee_id, model.__tablename__)
    return rows[survivor_id], rows[duplicate_id]


async def absorb_and_delete(uow: UnitOfWork, survivor: Any, duplicate: Any, filled: Sequence[str]) -> None:
    """The survivor's values stand; its empty `filled` fields take the duplicate's (its external id too,
    freed first). Tags and custom values unite. Then the duplicate is deleted."""
    taken = {field: getattr(duplicate, field) for field in filled if getattr(survivor, field) is None}
    # Freed in a flush of its own: one flush orders the two rows' updates by id, not by need.
    duplicate.external_id = None
    await uow.session.flush()
    for field, value in taken.items():
        setattr(survivor, field, value)
    survivor.tags = sorted(set(survivor.tags) | set(duplicate.tags))
    survivor.custom = {**duplicate.custom, **survivor.custom}
    survivor.version += 1
    await uow.session.flush()
    await uow.session.delete(duplicate)
    await uow.session.flush()
