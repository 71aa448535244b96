"""The search query: full-text matches and trigram similarity across accounts, contacts and deals, in the
columns every type shares, ranked together. Row-level security keeps each member to the records they may
see."""

from __future__ import annotations

from typing import Any
from uuid import UUID

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
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import Grouping

from keel.models import Account, Contact, Deal


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


Hits = Select[str, UUID, str, str | None, float]
Match = tuple[str, UUID, str, str | None, float]  # type, id, title, detail, score


def _hits(kind: str, row_id: Any, title: Any, detail: Any, score: Any, *matches: Any) -> Hits:
    """One record type's matches, in the columns every type shares."""
    columns = (literal(kind), row_id, title, detail, score)
    labelled = [c.label(n) for c, n in zip(columns, ("type", "id", "title", "detail", "score"), strict=True)]
    return select(*labelled).where(or_(*matches))


def _selects(query: str, types: set[str]) -> list[Hits]:
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


async def best_matches(
    session: AsyncSession, query: str, types: set[str], limit: int, *, word_similarity: float
) -> list[Match]:
    """The best `limit` matches among `types`, best first."""
    await session.execute(
        select(func.set_config("pg_trgm.word_similarity_threshold", str(word_similarity), True))
    )
    hits = union_all(*_selects(query, types)).subquery()
    rows = await session.execute(select(hits).order_by(hits.c.score.desc(), hits.c.title).limit(limit))
    return [(kind, row_id, title, detail, score) for kind, row_id, title, detail, score in rows]
