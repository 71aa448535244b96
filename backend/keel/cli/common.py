"""What the command groups share: the console, the operator's name, audited platform actions."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from keel.audit.retention import maintain as maintain_audit_partitions
from keel.core.config import Settings, get_settings
from keel.core.db import admin_url
from keel.core.errors import Problem
from keel.core.logging import configure_logging
from keel.core.platform import PlatformUnitOfWork, platform_unit_of_work

console = Console()
T = TypeVar("T")


def operator() -> str:
    """Who runs the command, as the platform audit log records it."""
    return os.environ.get("KEEL_OPERATOR") or os.environ.get("USER") or "cli"


def run_platform_action(action: Callable[[PlatformUnitOfWork], Awaitable[T]]) -> T:
    """Run one audited platform action as the operator; a refusal is printed and exits 1."""
    configure_logging(get_settings())

    async def run() -> T:
        async with platform_unit_of_work(operator()) as uow:
            return await action(uow)

    try:
        return asyncio.run(run())
    except Problem as problem:
        console.print(f"[red]{problem.title}[/]: {problem.detail}")
        for error in problem.extensions.get("errors", []):
            console.print(f"  {error['field']}: {error['message']}")
        raise typer.Exit(1) from problem


def maintain_audit(settings: Settings) -> None:
    """Create the coming months' audit partitions; detach those past retention."""
    engine = create_engine(admin_url(settings), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            done = maintain_audit_partitions(conn, settings.audit_retention_months)
    finally:
        engine.dispose()
    console.print(
        f"audit partitions: {len(done.created)} created, {len(done.detached)} detached to keel_archive"
        + "".join(f"\n  detached {name}" for name in done.detached)
    )
