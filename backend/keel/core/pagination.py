"""Keyset pagination: `limit`, an opaque `cursor`, and `next_cursor` in every list response.

The cursor encodes the sort order and the sort key of the last row returned; the next page starts
strictly after it, so pages stay stable while rows are inserted and cost the same at page 1 and page
10,000. Lists are newest first unless the endpoint offers other orders through `sort_query`.
"""

# No `from __future__ import annotations`: FastAPI must see the real annotation of `sort_query`'s inner
# dependency, whose Query is built per list.
import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    literal_column,
    or_,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from keel.core.errors import Problem
from keel.core.json_reads import Document, JsonBody, json_object
from keel.core.statements import rows as driver_rows

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
NEWEST_FIRST = "-created_at"

Column = ColumnElement[T] | InstrumentedAttribute[T]  # what a list may be sorted by


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(frozen=True)

    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=2048, description="`next_cursor` from the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageQuery = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class Sort:
    """One order of a list: `key` ascending or descending, ties broken by the row id the same way.
    A nullable key sorts its NULLs as if larger than any value (last ascending, first descending),
    as PostgreSQL does by default, so an index on the key serves both directions."""

    name: str  # as the client writes it: "name", "-created_at"
    key: Column[Any]
    row_id: Column[UUID]
    descending: bool = True
    nullable: bool = False

    def order_by(self) -> tuple[ColumnElement[Any], ...]:
        if self.descending:
            return self.key.desc(), self.row_id.desc()
        return self.key.asc(), self.row_id.asc()

    def after(self, value: Any, last_id: UUID) -> ColumnElement[bool]:
        """Rows strictly after (`value`, `last_id`) in this order."""
        key, row_id = self.key, self.row_id
        if value is None:  # only NULL keys are left ascending; the non-NULL ones follow descending
            if self.descending:
                return or_(key.is_not(None), and_(key.is_(None), row_id < last_id))
            return and_(key.is_(None), row_id > last_id)
        if self.descending:
            return tuple_(key, row_id) < tuple_(value, last_id)
        later = tuple_(key, row_id) > tuple_(value, last_id)
        return or_(later, key.is_(None)) if self.nullable else later


def newest_first(created_at: Column[datetime], row_id: Column[UUID]) -> Sort:
    return Sort(NEWEST_FIRST, created_at, row_id)


def sort_query(
    options: Mapping[str, Column[Any]],
    row_id: Column[UUID],
    *,
    nullable: frozenset[str] = frozenset(),
    default: str = NEWEST_FIRST,
) -> Callable[[str], Awaitable[Sort]]:
    """A FastAPI dependency reading `sort=<field>` (ascending) or `sort=-<field>` (descending) among
    `options`, which name the SQL expression each field sorts by."""
    fields = ", ".join(f"`{name}`" for name in options)
    pattern = "^-?(" + "|".join(re.escape(name) for name in options) + ")$"

    async def sort(
        sort: Annotated[
            str,
            Query(pattern=pattern, description=f"Order by {fields}; a leading `-` for descending."),
        ] = default,
    ) -> Sort:
        field = sort.removeprefix("-")
        return Sort(sort, options[field], row_id, descending=sort.startswith("-"), nullable=field in nullable)

    return sort


def encode_cursor(sort: Sort, value: Any, row_id: UUID) -> str:
    shown = value.isoformat() if isinstance(value, date) else value  # datetime is a date too
    raw = json.dumps([sort.name, shown, str(row_id)], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _key_value(sort: Sort, shown: Any) -> Any:
    if shown is None:
        if not sort.nullable:
            raise ValueError("no key")
        return None
    kind = sort.key.type.python_type
    if kind is datetime:
        at = datetime.fromisoformat(shown)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return at
    if kind is date:
        return date.fromisoformat(shown)
    if kind in (int, str) and type(shown) is kind:
        return shown
    raise ValueError("wrong key type")


def decode_cursor(sort: Sort, cursor: str) -> tuple[Any, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, shown, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if name != sort.name:
            raise Problem(
                400,
                f"The cursor continues a list sorted by {name!r}, not {sort.name!r}.",
                title="Invalid cursor",
            )
        return _key_value(sort, shown), UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, "The cursor is not one this API issued.", title="Invalid cursor") from exc


async def _page_rows(
    session: AsyncSession, stmt: Select[Any], *, sort: Sort, params: PageParams, on_driver: bool = False
) -> tuple[list[Any], str | None]:
    """`stmt` yields (what the page shows, sort key, row id) per row: this page's first values, in `sort`
    order after the cursor, and the next cursor."""
    if params.cursor:
        stmt = stmt.where(sort.after(*decode_cursor(sort, params.cursor)))
    # The LIMIT is written into the statement, not bound: with a bound LIMIT PostgreSQL judges the
    # generic plan of a prepared statement against each custom one and keeps planning every execution
    # (2-3 ms for a list over the audit trail's partitions); with a literal it settles on the generic
    # plan. The page size is a checked int (PageParams), one statement text per size.
    fetch: ColumnElement[int] = literal_column(str(int(params.limit) + 1))
    paged = stmt.order_by(*sort.order_by()).limit(fetch)
    rows = await driver_rows(session, paged) if on_driver else (await session.execute(paged)).all()
    if len(rows) <= params.limit:
        return [row[0] for row in rows], None
    rows = rows[: params.limit]
    _, value, last_id = rows[-1]
    if on_driver:  # the key and id came as text (see json_keyset_page): only the last row's are read
        value, last_id = _loaded(sort, value), UUID(last_id)
    return [row[0] for row in rows], encode_cursor(sort, value, last_id)


def _loaded(sort: Sort, text: str | None) -> Any:
    """A sort key PostgreSQL wrote as text, as the Python value its column type loads."""
    if text is None:
        return None
    kind = sort.key.type.python_type
    if kind is datetime:
        return datetime.fromisoformat(text)
    if kind is date:
        return date.fromisoformat(text)
    return kind(text)


async def keyset_page(
    session: AsyncSession, stmt: Select[Any], *, sort: Sort, params: PageParams
) -> tuple[Sequence[Any], str | None]:
    """`stmt` selects one entity; returns the rows of this page in `sort` order and the next cursor."""
    return await _page_rows(session, stmt.add_columns(sort.key, sort.row_id), sort=sort, params=params)


class JsonPage(JsonBody):
    """A page whose rows PostgreSQL wrote as JSON (see `keel.core.json_reads`)."""


async def json_keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    document: Document,
    *,
    sort: Sort,
    params: PageParams,
) -> JsonPage:
    """`keyset_page`, with each row written by PostgreSQL as the JSON object `document` describes (field
    name → SQL expression; a JSON-typed expression nests as JSON). `stmt` gives the rows: its FROM and
    WHERE; its columns are replaced."""
    document_json = json_object(document)
    # The key and id as text: turning 51 of each into datetime and UUID objects costs more than the
    # page's JSON, and only the last row's make the cursor.
    key_text: ColumnElement[Any] = cast(sort.key, Text)
    id_text: ColumnElement[Any] = cast(sort.row_id, Text)
    shown = stmt.with_only_columns(document_json, key_text, id_text)
    docs, cursor = await _page_rows(session, shown, sort=sort, params=params, on_driver=True)
    items = ",".join(docs)
    return JsonPage(f'{{"items":[{items}],"next_cursor":{json.dumps(cursor)}}}')
