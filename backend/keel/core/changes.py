"""Which tables a unit of work changed, told to listeners once it has committed: how caches that must
never serve a value older than a write (the customer summary) learn that it is out of date.

Changes are seen through the ORM: objects added, changed or deleted at a flush, and ORM insert, update
and delete statements. A listener runs after the commit and before the response leaves, so the writer's
next read, and everyone's after it, misses the old value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from itertools import chain
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

Listener = Callable[[UUID], Awaitable[None]]
_LISTENERS: list[tuple[frozenset[str], Listener]] = []


def on_change(tables: Iterable[str], listener: Listener) -> None:
    """Call `listener(org_id)` after a unit of work of that organisation commits a change to `tables`."""
    _LISTENERS.append((frozenset(tables), listener))


def track_changes(session: AsyncSession) -> set[str]:
    """The set, filled as the session writes, of the tables it changed."""
    changed: set[str] = set()

    def flushed(sync_session: Session, _context: Any) -> None:
        for instance in chain(sync_session.new, sync_session.dirty, sync_session.deleted):
            table = getattr(instance, "__tablename__", None)
            if table:
                changed.add(table)

    def executed(state: ORMExecuteState) -> None:
        if (state.is_insert or state.is_update or state.is_delete) and state.bind_mapper is not None:
            changed.add(state.bind_mapper.local_table.name)  # type: ignore[attr-defined]

    event.listen(session.sync_session, "after_flush", flushed)
    event.listen(session.sync_session, "do_orm_execute", executed)
    return changed


async def publish_changes(org_id: UUID | None, changed: set[str]) -> None:
    if org_id is None or not changed:
        return
    for tables, listener in _LISTENERS:
        if tables & changed:
            try:
                await listener(org_id)
            except Exception:
                structlog.get_logger("keel.changes").exception(
                    "change_listener_failed", tables=sorted(tables)
                )
