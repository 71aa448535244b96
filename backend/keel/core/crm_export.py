"""Streaming a list as CSV for whoever asked: read on a connection of its own (taken before the response
starts, so an export that cannot be served is refused whole), in the caller's organisation *and record
scope*, so an export shows exactly what the list does; cells are formula-safe (keel.core.exports)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi.responses import StreamingResponse
from sqlalchemy import Select

from keel.core.db import Database, set_tenant_context
from keel.core.exports import csv_stream
from keel.core.ratelimit import count_export


async def csv_export(
    db: Database,
    *,
    org_id: UUID,
    user_id: UUID | None,
    scope: str,
    statement: Select[Any],
    columns: list[str],
    name: str,
    shape: Callable[..., dict[str, Any]],
) -> StreamingResponse:
    """`shape` turns each row `statement` selects (its columns as arguments) into the CSV row written
    under `columns`. Exports share the organisation's export rate limit (429 beyond it)."""
    await count_export(org_id)

    async def rows() -> AsyncIterator[dict[str, Any] | None]:
        async with db.sessions() as session:
            await set_tenant_context(session, org_id, user_id, scope)
            result = await session.stream(statement.execution_options(yield_per=500))
            yield None  # connected, the query running: the response may start
            async for row in result:
                yield shape(*row)

    # The connection is taken before the response starts: a full pool is a 503 here, not a 200 whose
    # CSV stops after its header line.
    connected = rows()
    await anext(connected)

    async def exported() -> AsyncIterator[dict[str, Any]]:
        async for row in connected:
            assert row is not None
            yield row

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        csv_stream(columns, exported()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )
