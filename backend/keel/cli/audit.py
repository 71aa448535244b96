"""`keel audit maintain` and `keel audit verify`: the organisations' audit trails."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated

import typer

from keel.audit.security import verify_security_chains
from keel.audit.service import ChainBreak, verify_chain
from keel.cli.common import console, maintain_audit, operator
from keel.core.config import get_settings
from keel.core.db import runtime_database
from keel.core.logging import configure_logging
from keel.core.platform import platform_unit_of_work
from keel.core.uow import job_unit_of_work
from keel.organizations import service as organizations

audit = typer.Typer(help="The organisations' audit trails.", no_args_is_help=True)


@audit.command("maintain")
def maintain() -> None:
    """Create the coming months' audit partitions and detach months past their category's retention
    into the keel_archive schema (run it monthly, e.g. from cron; `keel migrate` runs it too)."""
    settings = get_settings()
    configure_logging(settings)
    maintain_audit(settings)


@audit.command("verify")
def verify(org: Annotated[str | None, typer.Option(help="one organisation's slug")] = None) -> None:
    """Recompute every organisation's audit hash chain; name each altered, missing or reordered row."""
    configure_logging(get_settings())

    async def run() -> list[tuple[str, int, list[ChainBreak]]]:
        async with platform_unit_of_work(operator()) as uow:
            orgs = [o for o in await organizations.list_organizations(uow) if org in (None, o.slug)]
            accounts = await verify_security_chains(uow) if org is None else None
        results = []
        for each in orgs:
            async with job_unit_of_work(runtime_database(), each.id) as uow:
                checked, breaks = await verify_chain(uow)
            results.append((each.slug, checked, breaks))
        if accounts is not None:
            checked, account_breaks = accounts
            results.append(
                (
                    "account security events",
                    checked,
                    [replace(b, event_id=f"{s}: {b.event_id}") for s, b in account_breaks],
                )
            )
        return results

    results = asyncio.run(run())
    if not results:
        console.print(f"[red]no organisation[/] {org!r}")
        raise typer.Exit(1)
    broken = False
    for slug, checked, breaks in results:
        console.print(f"{slug}: {checked} rows, {'[red]BROKEN[/]' if breaks else 'intact'}")
        for item in breaks:
            broken = True
            where = f"{item.chain} row {item.seq}" if item.chain else f"row {item.seq}"
            console.print(f"  {where} ({item.event_id}): {item.problem}")
    if broken:
        raise typer.Exit(1)
