"""Running Keel: `keel migrate`, `keel seed`, `keel serve`, `keel worker`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
import uvicorn
from rich.table import Table

from keel.cli.common import console, maintain_audit, operator
from keel.core.config import Settings, get_settings
from keel.core.db import APP_ROLE, libpq_url, role_url
from keel.core.jobs import open_job_app, watch_stalled_jobs
from keel.core.logging import configure_logging
from keel.core.migrate import migrate as run_migrations
from keel.demo import DemoSeed, save_demo, seed_demo
from keel.registry import load_task_modules

EMPTY_HELP = "Only the organisation, its users and the web app's client: no demo CRM records"


def migrate(revision: str = "head") -> None:
    """Create the database roles when missing and apply migrations as the owner."""
    settings = get_settings()
    configure_logging(settings)
    run_migrations(settings, revision)
    console.print(f"[green]migrated[/] to {revision}")
    if revision == "head":
        maintain_audit(settings)


def show_demo(seed: DemoSeed, settings: Settings) -> None:
    if not seed.created:
        console.print(f"demo organisation exists; its credentials are in {settings.data_dir} if kept")
        return
    save_demo(seed, settings.data_dir)
    table = Table(title="Demo users (change these passwords before sharing this instance)")
    for column in ("role", "e-mail", "password"):
        table.add_column(column)
    for row in seed.users:
        table.add_row(*row)
    console.print(table)
    console.print(f"Demo API key and users saved (owner-only) under {settings.data_dir}")


def seed(empty: Annotated[bool, typer.Option("--empty", help=EMPTY_HELP)] = False) -> None:
    """Create the demo organisation, its users (one per role), its data and the web app's client, once."""
    settings = get_settings()
    configure_logging(settings)
    show_demo(asyncio.run(seed_demo(settings, operator(), with_data=not empty)), settings)


def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the API (uvicorn)."""
    settings = get_settings()
    uvicorn.run(
        "keel.main:serving_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=settings.api_workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # A worker imports the whole app before it answers the supervisor's health check; on a busy
        # 2-core host that takes longer than uvicorn's 5 s default, and workers were replaced for minutes.
        timeout_worker_healthcheck=30,
    )


def worker(
    queues: Annotated[list[str] | None, typer.Option("--queue", "-q")] = None,
    concurrency: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the job worker: executes jobs, periodic tasks, and re-queues jobs of dead workers."""
    settings = get_settings()
    configure_logging(settings)
    load_task_modules()

    async def run() -> None:
        async with open_job_app(
            libpq_url(role_url(settings, APP_ROLE)), max_size=settings.worker_concurrency + 3
        ) as job_app:
            watcher = asyncio.create_task(
                watch_stalled_jobs(
                    job_app, settings.worker_stalled_after_seconds, settings.worker_heartbeat_seconds
                )
            )
            try:
                options: dict[str, Any] = {
                    "concurrency": concurrency or settings.worker_concurrency,
                    "update_heartbeat_interval": settings.worker_heartbeat_seconds,
                    "stalled_worker_timeout": settings.worker_stalled_after_seconds,
                    "install_signal_handlers": True,
                }
                if queues:
                    options["queues"] = queues
                await job_app.run_worker_async(**options)
            finally:
                watcher.cancel()

    asyncio.run(run())
