"""Reads whose JSON PostgreSQL writes: a record or a page leaves the database as the bytes the API sends.

No ORM object, Pydantic model or JSON decode and encode per row. A route that answers this way still
names its response model (`response_model=ContactOut`, `Page[ContactOut]`), so the OpenAPI document
describes exactly what is sent; the whole-API fuzz run checks every response against it, and each
domain's tests compare the JSON with the model's output for the same row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import Response
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    Text,
    bindparam,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.statements import fixed, rows

Document = Mapping[str, SQLColumnExpression[Any]]  # field name -> the SQL that writes its value


class JsonBody(Response):
    """JSON that PostgreSQL wrote; the bytes pass through."""

    media_type = "application/json"


def json_timestamp(column: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """A timestamp as the API writes it everywhere, to the character: RFC 3339 in UTC with a `Z`, and
    six digits of fraction when there is one (as the models write it); NULL stays JSON null."""
    # Constants are written into the statement, not bound, so a page's statement keeps no parameters.
    utc = func.timezone(literal_column("'UTC'"), column)
    whole = func.date_trunc(literal_column("'second'"), column) == column
    pattern = case(
        (whole, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS"Z"'""")),
        else_=literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""),
    )
    return func.to_char(utc, pattern, type_=Text)


_built: dict[int, tuple[Document, ColumnElement[str]]] = {}


def json_object(document: Document) -> ColumnElement[str]:
    """The JSON object `document` describes, as text (a JSON-typed expression nests as JSON). Built
    once per document: the documents are the domains' constants, and building one costs a list's time."""
    built = _built.get(id(document))
    if built is not None and built[0] is document:
        return built[1]
    expression = _json_object(document)
    if len(_built) < 1_000:  # constants only; a document made per call is built per call
        _built[id(document)] = (document, expression)
    return expression


def _json_object(document: Document) -> ColumnElement[str]:
    pairs: list[SQLColumnExpression[Any]] = []
    for name, expression in document.items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):  # written into the statement: code's names only
            raise ValueError(f"not a field name: {name!r}")
        pairs += [literal_column(f"'{name}'"), expression]
    return func.json_build_object(*pairs).cast(Text)


_records: dict[tuple[Any, int], tuple[Document, Select[Any]]] = {}


def _record_statement(model: Any, document: Document) -> Select[Any]:
    """The read of one `model` row by id as `document`'s JSON and its version: built once per pair."""
    key = (model, id(document))
    known = _records.get(key)
    if known is not None and known[0] is document:
        return known[1]
    record_id = bindparam("record_id", type_=model.id.type)
    statement = fixed(select(json_object(document), model.version).where(model.id == record_id).limit(1))
    if len(_records) < 1_000:  # constants only, as for `json_object`
        _records[key] = (document, statement)
    return statement


async def json_record(
    session: AsyncSession, model: Any, record_id: Any, document: Document
) -> tuple[JsonBody, int] | None:
    """The `model` row with this id as `document`'s JSON, and its version (for the ETag); None when
    there is none, or the caller may not see it."""
    found = await rows(session, _record_statement(model, document), {"record_id": record_id})
    if not found:
        return None
    body, current = found[0]
    return JsonBody(body), current
