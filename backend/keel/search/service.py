"""One search box across accounts, contacts and deals: full-text matches (every word, any order) and
trigram similarity (misspelled names, partial e-mail addresses), ranked together. Row-level security
keeps each member to the records they may see, as on every other path."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import Grouping

from keel.access.permissions import Permission
from keel.core.uow import UnitOfWork
from keel.identity.service import Principal
from keel.models import Account, Contact, Deal

TYPES = ("account", "contact", "deal")
WORD_SIMILARITY = 0.5
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


def _similar(query: str, text: ColumnElement[Any]) -> ColumnElement[bool]:
    # `query <% text`: a word of `text` is like the query (pg_trgm, served by the trigram indexes).
    return literal(query).op("OPERATOR(extensions.<%)", is_comparison=True)(Grouping(text))


def _rank(
    search: Any, words: Any, query: str, *texts: ColumnElement[Any] | InstrumentedAttribute[Any]
) -> ColumnElement[float]:
    similarity = [func.extensions.word_similarity(query, t) for t in texts]
    return func.greatest(func.ts_rank(search, words), *similarity)


def _like(query: str) -> str:
    return "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


Row = Select[str, UUID, str, str | None, float]


def _hits(kind: str, row_id: Any, title: Any, detail: Any, score: Any, *matches: Any) -> Row:
    """One record type's matches, in the columns every type shares."""
    columns = (literal(kind), row_id, title, detail, score)
    labelled = [c.label(n) for c, n in zip(columns, ("type", "id", "title", "detail", "score"), strict=True)]
    return select(*labelled).where(or_(*matches))


def _selects(query: str, types: set[str]) -> list[Row]:
    words = func.websearch_to_tsquery(literal_column("'simple'::regconfig"), query)
    name = Contact.first_name + " " + Contact.last_name
    selects = []
    if "account" in types:
        selects.append(
            _hits(
                "account",
                Account.id,
                Account.name,
                Account.domain,
                _rank(Account.search, words, query, Account.name),
                Account.search.bool_op("@@")(words),
                _similar(query, Account.name.expression),
            )
        )
    if "contact" in types:
        selects.append(
            _hits(
                "contact",
                Contact.id,
                name,
                Contact.email,
                _rank(Contact.search, words, query, name, func.coalesce(Contact.email, "")),
                Contact.search.bool_op("@@")(words),
                _similar(query, name),
                Contact.email.ilike(_like(query)),
            )
        )
    if "deal" in types:
        selects.append(
            _hits(
                "deal",
                Deal.id,
                Deal.name,
                cast(null(), String),
                _rank(Deal.search, words, query, Deal.name),
                Deal.search.bool_op("@@")(words),
                _similar(query, Deal.name.expression),
            )
        )
    return selects


async def search(
    uow: UnitOfWork, principal: Principal, query: str, types: set[str] | None, limit: int
) -> list[Hit]:
    """The best `limit` matches among the record types the caller may read (all three by default)."""
    readable = {t for t in (types or set(TYPES)) if _READS[t] in principal.permissions}
    if not readable:
        return []
    # A little more lenient than pg_trgm's 0.6, so one wrong letter in a short name still finds it.
    await uow.session.execute(
        select(func.set_config("pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY), True))
    )
    hits = union_all(*_selects(query.strip(), readable)).subquery()
    rows = await uow.session.execute(select(hits).order_by(hits.c.score.desc(), hits.c.title).limit(limit))
    return [
        Hit(type=t, id=i, title=title, detail=detail, score=round(score, 4))
        for t, i, title, detail, score in rows
    ]
