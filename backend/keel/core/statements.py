"""SQLAlchemy statements run on the transaction's own psycopg connection, for the request path's reads.

A read whose answer PostgreSQL writes (a list's JSON, the API key lookup) needs nothing of the ORM: no
identity map, no result objects, no greenlet hand-off per statement. `rows` compiles the statement once
per shape (SQLAlchemy's own cache key names the shape: same structure, any values), binds this call's
values, and runs it with psycopg in the unit of work's transaction, under the same tenant context and
row-level security as every other statement. psycopg prepares a statement text it has run five times,
so a list's plan is made once per connection.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import SQLCompiler

_CACHE_SIZE = 2_000
_DRIVER = "keel.driver_connection"


@dataclass(frozen=True)
class _Compiled:
    compiled: SQLCompiler
    sql: str
    processors: Mapping[str, Callable[[Any], Any]]


_compiled: OrderedDict[Any, _Compiled] = OrderedDict()


def _compile(statement: ClauseElement, dialect: Dialect, key: CacheKey | None) -> _Compiled:
    # With its cache key, the compiled form takes the values of any statement of the same shape.
    compiled = statement.compile(dialect=dialect, cache_key=key)
    assert isinstance(compiled, SQLCompiler)
    if compiled.post_compile_params or compiled.literal_execute_params:
        # Their SQL depends on the values (`IN` of a Python list), so it cannot be compiled once.
        raise ValueError("values rendered into the SQL at execution: write `= ANY(array)` for `IN`")
    processors = {}
    for bind, name in compiled.bind_names.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[compiled.escaped_bind_names.get(name, name)] = processor
    return _Compiled(compiled, compiled.string, processors)


# Statements built once, whose values come only from bound parameters: their cache key is computed once
# too. Each entry holds its statement, so the id cannot name another object while it is here.
_fixed: dict[int, tuple[ClauseElement, CacheKey | None]] = {}


S = TypeVar("S", bound=ClauseElement)


def fixed(statement: S) -> S:
    """`statement`, built once (at import, or memoized) and run with `rows(…, params)` for its
    `bindparam`s: the cost of naming its shape is paid here, not on every call."""
    _fixed[id(statement)] = (statement, statement._generate_cache_key())
    return statement


def driver_sql(
    statement: ClauseElement, dialect: Dialect, params: Mapping[str, Any] | None = None
) -> tuple[str, MutableMapping[str, Any]]:
    """The statement's SQL in psycopg's placeholder style, and its values (`params` for a `text()`)."""
    known = _fixed.get(id(statement))
    key = known[1] if known is not None and known[0] is statement else statement._generate_cache_key()
    entry = _compiled.get(key.key) if key is not None else None
    if entry is None:
        entry = _compile(statement, dialect, key)
        if key is not None:
            _compiled[key.key] = entry
            if len(_compiled) > _CACHE_SIZE:
                _compiled.popitem(last=False)
    values = entry.compiled.construct_params(
        params, extracted_parameters=key.bindparams if key is not None else None
    )
    for name, processor in entry.processors.items():
        if name in values:
            values[name] = processor(values[name])
    return entry.sql, values


async def driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection of the session's transaction (begun now if it has not begun)."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


async def rows(
    session: AsyncSession, statement: ClauseElement, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Every row `statement` returns (none for a write without RETURNING), run on the transaction's
    psycopg connection. What the ORM holds
    unwritten is flushed first, so the read sees the transaction's own changes."""
    pending = session.sync_session
    if pending.new or pending.dirty or pending.deleted:
        await session.flush()
    sql, values = driver_sql(statement, session.sync_session.get_bind().dialect, params)
    connection = await driver_connection(session)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, values)
            return await cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as exc:  # as SQLAlchemy raises it, for the handlers that turn it into a 4xx
        raise DBAPIError.instance(sql, values, exc, psycopg.Error) from exc
