"""One search box across accounts, contacts and deals: full-text matches (every word, any order) and
trigram similarity (misspelled names, partial e-mail addresses), ranked together. Each member finds only
the records they may see, as on every other path (ADR 0018)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from keel.access.permissions import Permission
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.search import repository

TYPES = ("account", "contact", "deal")
_READS = {
    "account": Permission.ACCOUNTS_READ,
    "contact": Permission.CONTACTS_READ,
    "deal": Permission.DEALS_READ,
}


class Hit(BaseModel):
    type: str = Field(description="account, contact or deal")
    id: UUID
    title: str
    detail: str | None = Field(description="The account's domain, the contact's e-mail")
    score: float = Field(description="Higher is closer; results come best first")


async def search(
    uow: UnitOfWork, principal: Principal, query: str, types: set[str] | None, limit: int
) -> list[Hit]:
    """The best `limit` matches among the record types the caller may read (all three by default)."""
    readable = {t for t in (types or set(TYPES)) if _READS[t] in principal.permissions}
    if not readable:
        return []
    rows = await repository.best_matches(uow.session, query.strip(), readable, limit)
    return [
        Hit(type=t, id=i, title=title, detail=detail, score=round(score, 4))
        for t, i, title, detail, score in rows
    ]
