"""Keyset pagination: `limit`, an opaque `cursor`, and `next_cursor` in every list response.

The cursor encodes the sort key of the last row returned; the next page starts strictly after it, so
pages stay stable while rows are inserted and cost the same at page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from keel.core.errors import Problem

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


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
        Query(max_length=512, description="`next_cursor` from the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageQuery = Annotated[PageParams, Depends(page_params)]


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        return at, UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, "The cursor is not one this API issued.", title="Invalid cursor") from exc


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[UUID],
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Newest first. `stmt` selects one entity; returns the rows of this page and the next cursor."""
    if params.cursor:
        at, last_id = decode_cursor(params.cursor)
        stmt = stmt.where(tuple_(created_at, row_id) < tuple_(at, last_id))
    stmt = stmt.order_by(created_at.desc(), row_id.desc()).limit(params.limit + 1)
    rows = (await session.scalars(stmt)).all()
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, created_at.key), getattr(last, row_id.key))
