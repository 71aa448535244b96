"""`keel import`: a CSV sent to a Keel API with an API key, followed to the end with a progress bar."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

POLL_SECONDS = 0.5


class ImportRefused(RuntimeError):
    """The API refused the file or its mapping; the message is its explanation."""


def run(
    http: httpx.Client,
    console: Console,
    file: Path,
    record_type: str,
    mapping: dict[str, str],
    *,
    upsert_by: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Start the import, show its progress until it ends, and return its last state."""
    data = file.read_bytes()
    body = {
        "record_type": record_type,
        "csv_base64": base64.b64encode(data).decode(),
        "mapping": mapping,
        "upsert_by": upsert_by,
        "dry_run": dry_run,
    }
    started = http.post("/api/v1/imports", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    if started.status_code != 202:
        problem = started.json() if started.headers.get("content-type", "").endswith("json") else {}
        raise ImportRefused(problem.get("detail") or f"The API answered {started.status_code}.")
    state: dict[str, Any] = started.json()
    label = "Checking" if dry_run else "Importing"
    columns = (TextColumn(f"{label} {file.name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(label, total=state["total_rows"])
        while state["status"] in ("queued", "running"):
            time.sleep(POLL_SECONDS)
            state = http.get(f"/api/v1/imports/{state['id']}").raise_for_status().json()
            progress.update(bar, completed=state["rows_done"])
    return state


def report(console: Console, state: dict[str, Any]) -> None:
    would = "would be " if state["dry_run"] else ""
    console.print(
        f"{state['status']}: {state['created']} {would}created, {state['updated']} {would}updated, "
        f"{state['failed']} rows not taken (import {state['id']})"
    )
    if state["errors"]:
        table = Table("Row", "Field", "Why")
        for error in state["errors"][:20]:
            table.add_row(str(error["row"]), str(error.get("field") or ""), error["message"])
        console.print(table)
        if state["failed"] > 20:
            console.print(f"… and {state['failed'] - 20} more: GET /api/v1/imports/{state['id']}")
