"""`keel import`: a CSV file into the organisation's CRM through the API, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import typer

from keel.cli.common import console
from keel.imports import client as import_client


def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The CSV file (UTF-8)")],
    record_type: Annotated[str, typer.Option("--type", help="account, contact or deal")],
    columns: Annotated[list[str], typer.Option("--map", help='"CSV column=field"; repeat for each column')],
    upsert_by: Annotated[
        str | None, typer.Option(help="external_id, email (contacts) or domain (accounts)")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check every row and report; write nothing")] = False,
    url: Annotated[str, typer.Option(envvar="KEEL_URL", help="The Keel API")] = "http://127.0.0.1:8000",
    api_key: Annotated[str, typer.Option(envvar="KEEL_API_KEY", help="An API key of the organisation")] = "",
) -> None:
    """Import accounts, contacts or deals from a CSV file through the API, with a progress bar."""
    if not api_key:
        raise typer.BadParameter("give --api-key or set KEEL_API_KEY", param_hint="--api-key")
    if any("=" not in c for c in columns):
        raise typer.BadParameter('write each as "CSV column=field"', param_hint="--map")
    mapping = dict(c.split("=", 1) for c in columns)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=300) as http:
        try:
            state = import_client.run(
                http, console, file, record_type, mapping, upsert_by=upsert_by, dry_run=dry_run
            )
        except import_client.ImportRefused as refused:
            console.print(f"[red]refused:[/] {refused}")
            raise typer.Exit(1) from None
    import_client.report(console, state)
    if state["status"] != "completed":
        raise typer.Exit(1)
