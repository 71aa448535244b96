"""Streaming exports: CSV that spreadsheets cannot mistake for formulas, and JSON arrays, row by row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

# A cell starting with one of these runs as a formula in Excel, LibreOffice and Sheets (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, default=str)
        if isinstance(value, dict | list)
        else str(value)
    )
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(v) for v in values])
    return buffer.getvalue()


async def csv_stream(columns: list[str], rows: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[str]:
    yield csv_line(columns)
    async for row in rows:
        yield csv_line(row.get(c) for c in columns)


async def json_array_stream(rows: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[str]:
    yield "["
    first = True
    async for row in rows:
        yield ("" if first else ",") + json.dumps(row, default=str, ensure_ascii=False)
        first = False
    yield "]"
