"""Reading an uploaded CSV: UTF-8 only (a byte-order mark is fine), its delimiter found by sniffing
(comma, semicolon, tab or bar) unless given, the first row its header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

DELIMITERS = ",;\t|"


class FileProblem(ValueError):
    """The file cannot be read as CSV; the message says what to do."""


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            f"The file is not UTF-8 (byte {exc.start} cannot be read): save it as “CSV UTF-8” and try again."
        ) from exc


def sniff(text: str) -> str:
    sample = text[:64_000]
    try:
        return (
            csv.Sniffer().sniff(sample.split("\n", 20)[0] if "\n" in sample else sample, DELIMITERS).delimiter
        )
    except csv.Error:
        return ","


def header(text: str, delimiter: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), None)
    if not first or not any(cell.strip() for cell in first):
        raise FileProblem("The file is empty: its first row must name the columns.")
    return [cell.strip() for cell in first]


def rows(text: str, delimiter: str, *, start: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as a spreadsheet shows it, {column: cell}), from data row `start` (0 is the first)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip() for c in next(reader, [])]
    for index, cells in enumerate(reader):
        if index < start or not any(cell.strip() for cell in cells):
            continue
        yield index + 2, dict(zip(columns, (c.strip() for c in cells), strict=False))


def count_rows(text: str, delimiter: str) -> int:
    """Data rows, blank ones included (progress counts through them)."""
    try:
        return max(0, sum(1 for _ in csv.reader(io.StringIO(text), delimiter=delimiter)) - 1)
    except csv.Error as exc:
        raise FileProblem(f"The file is not well-formed CSV: {exc}.") from exc
