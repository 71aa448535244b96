"""The search query: the best candidates of each type, found through their indexes by the definer
functions of migration 0021 (ADR 0018), joined back to their tables under row-level security and ranked
together. A candidate the caller may not read is dropped by that join, whatever a function returned."""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.statements import fixed, rows
from keel.models import Account, Contact, Deal

Match = tuple[str, UUID, str, str | None, float]  # type, id, title, detail, score
_QUERY = bindparam("query", type_=Text)
_LIMIT = bindparam("limit", type_=Integer)


def _hits(kind: str, model: Any, title: Any, detail: Any) -> Select[Any]:
    """`kind`'s best candidates that the caller may read, in the columns every type shares."""
    candidates = getattr(func.keel, f"search_{model.__tablename__}")(_QUERY, _LIMIT)
    found = candidates.table_valued(column("id", Uuid), column("score", Float)).alias(f"{kind}_found")
    return select(
        literal_column(f"'{kind}'").label("type"),
        model.id.label("id"),
        title.label("title"),
        detail.label("detail"),
        found.c.score.label("score"),
    ).join_from(found, model, model.id == found.c.id)


@cache
def _search(types: frozenset[str]) -> Select[Any]:
    """The statement for a set of types, built once."""
    selects = []
    if "account" in types:
        selects.append(_hits("account", Account, Account.name, Account.domain))
    if "contact" in types:
        name = Contact.first_name + literal_column("' '") + Contact.last_name
        selects.append(_hits("contact", Contact, name, Contact.email))
    if "deal" in types:
        selects.append(_hits("deal", Deal, Deal.name, cast(null(), String)))
    hits = union_all(*selects).subquery()
    return fixed(select(hits).order_by(hits.c.score.desc(), hits.c.title, hits.c.id).limit(_LIMIT))


async def best_matches(session: AsyncSession, query: str, types: set[str], limit: int) -> list[Match]:
    """The best `limit` matches among `types`, best first."""
    found = await rows(session, _search(frozenset(types)), {"query": query, "limit": limit})
    return [(kind, row_id, title, detail, score) for kind, row_id, title, detail, score in found]
