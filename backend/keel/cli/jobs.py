"""`keel jobs failed` and `keel jobs retry`: background jobs that exhausted their retries."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from keel.cli.common import console
from keel.core.config import get_settings
from keel.core.db import APP_ROLE, libpq_url, role_url
from keel.core.jobs import open_job_app
from keel.core.logging import configure_logging
from keel.registry import load_task_modules

jobs = typer.Typer(help="Inspect and replay background jobs.", no_args_is_help=True)


@jobs.command("failed")
def failed(limit: int = 50) -> None:
    """Jobs that exhausted their retries."""
    settings = get_settings()
    configure_logging(settings)
    load_task_modules()

    async def run() -> list[tuple[str, ...]]:
        async with open_job_app(libpq_url(role_url(settings, APP_ROLE))) as job_app:
            found = await job_app.job_manager.list_jobs_async(status="failed")
            return [
                (str(j.id), j.task_name, j.queue, str(j.attempts), json.dumps(j.task_kwargs)[:80])
                for j in list(found)[-limit:]
            ]

    table = Table("id", "task", "queue", "attempts", "arguments")
    for row in asyncio.run(run()):
        table.add_row(*row)
    console.print(table)


@jobs.command("retry")
def retry(job_id: int) -> None:
    """Run a failed job again."""
    settings = get_settings()
    configure_logging(settings)

    async def run() -> None:
        async with open_job_app(libpq_url(role_url(settings, APP_ROLE))) as job_app:
            await job_app.job_manager.retry_job_by_id_async(job_id, retry_at=datetime.now(UTC))

    try:
        asyncio.run(run())
    except Exception as exc:
        console.print(f"[red]cannot retry job {job_id}[/]: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"job {job_id} queued again")
