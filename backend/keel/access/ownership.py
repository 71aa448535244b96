"""What every owned record type (accounts, contacts, …) checks before a write, so the caller gets a
clear answer; the database's record-scope policy (keel.core.rls.owned_table) is the backstop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar
from uuid import UUID

from keel.access import repository
from keel.core.errors import Problem
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork


async def require_member(uow: UnitOfWork, user_id: UUID, field: str) -> None:
    if not await repository.is_member(uow.session, user_id):
        raise Problem(422, f"{field} must be a member of the organisation.")


def keep_within_scope(principal: Principal, owner_id: UUID, assignee_id: UUID | None, records: str) -> None:
    """A member whose scope is their own records may only write records they own or are assigned."""
    if principal.record_scope == "own" and principal.user_id not in (owner_id, assignee_id):
        raise Problem(403, f"You can only keep {records} that you own or are assigned.")


class Owned(Protocol):
    @property
    def owner_id(self) -> UUID: ...
    @property
    def assignee_id(self) -> UUID | None: ...


R = TypeVar("R", bound=Owned)


async def changeable(
    get: Callable[..., Awaitable[R]], principal: Principal, record_id: UUID, records: str
) -> R:
    """`get(record_id)`, locked for a change. Some records are readable through a linked record without
    being the caller's to change (tickets and activities of an account they see): those are refused
    with 403 rather than waited on (the database refuses them too)."""
    record = await get(record_id)
    keep_within_scope(principal, record.owner_id, record.assignee_id, records)
    return await get(record_id, for_update=True)


def owner_for(principal: Principal, owner_id: UUID | None, records: str) -> UUID:
    """The owner of a new record: the one named, else the caller (an API key must name one)."""
    owner = owner_id or principal.user_id
    if owner is None:
        raise Problem(422, f"owner_id is required: an API key owns no {records} itself.")
    return owner
