"""`keel`: serve, worker, migrate, seed, dev, jobs, orgs, openapi."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from keel.access.permissions import permissions_markdown
from keel.audit.retention import maintain as maintain_audit_partitions
from keel.audit.security import verify_security_chains
from keel.audit.service import ChainBreak, verify_chain
from keel.core.config import Settings, get_settings
from keel.core.db import APP_ROLE, admin_url, libpq_url, role_url, runtime_database
from keel.core.errors import Problem
from keel.core.jobs import open_job_app, watch_stalled_jobs
from keel.core.keyring import get_key_ring
from keel.core.logging import configure_logging
from keel.core.migrate import migrate as run_migrations
from keel.core.platform import PlatformUnitOfWork, platform_unit_of_work
from keel.core.uow import job_unit_of_work
from keel.demo import DemoSeed, save_demo, seed_demo
from keel.identity.accounts import set_disabled
from keel.identity.signing_keys import rotate_signing_key
from keel.imports import client as import_client
from keel.main import create_app
from keel.organizations import service as organizations
from keel.organizations.flows import onboard_organization
from keel.registry import load_task_modules

app = typer.Typer(help="Keel: multi-tenant CRM + ERP.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and replay background jobs.", no_args_is_help=True)
keys_app = typer.Typer(help="The authorization server's signing keys (audited).", no_args_is_help=True)
orgs_app = typer.Typer(help="Platform actions on organisations (audited).", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="Platform actions on user accounts (audited).", no_args_is_help=True)
app.add_typer(users_app, name="users")
audit_app = typer.Typer(help="The organisations' audit trails.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console()
T = TypeVar("T")


DEV_SMTP_PORT = 8025


def _operator() -> str:
    return os.environ.get("KEEL_OPERATOR") or os.environ.get("USER") or "cli"


@app.command("import")
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


@app.command()
def migrate(revision: str = "head") -> None:
    """Create the database roles when missing and apply migrations as the owner."""
    settings = get_settings()
    configure_logging(settings)
    run_migrations(settings, revision)
    console.print(f"[green]migrated[/] to {revision}")
    if revision == "head":
        _maintain_audit(settings)


def _maintain_audit(settings: Settings) -> None:
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


@app.command()
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


@app.command()
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


def _show_demo(seed: DemoSeed, settings: Settings) -> None:
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


@app.command()
def seed() -> None:
    """Create the demo organisation, its users (one per role) and the web app's client, once."""
    settings = get_settings()
    configure_logging(settings)
    _show_demo(asyncio.run(seed_demo(settings, _operator())), settings)


@app.command()
def dev() -> None:
    """Set up and run everything locally: database, migrations, demo data, API and worker."""
    settings = get_settings()
    configure_logging(settings)
    url = admin_url(settings)  # starts the embedded PostgreSQL when DATABASE_URL is not set
    run_migrations(settings, url=url)
    _maintain_audit(settings)
    _show_demo(asyncio.run(seed_demo(settings, _operator())), settings)
    api = f"http://{settings.api_host}:{settings.api_port}"
    env = {**os.environ, "DATABASE_URL": libpq_url(url)}
    env.setdefault("KEEL_PUBLIC_URL", api)
    children = []
    inbox = settings.data_dir / "mail"
    if not settings.smtp_host:  # a local SMTP server keeps every message in the dev inbox
        for folder in ("tmp", "new", "cur"):  # a Maildir
            (inbox / folder).mkdir(parents=True, exist_ok=True)
        smtp = f"127.0.0.1:{DEV_SMTP_PORT}"
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    smtp,
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                    str(inbox),
                ]
            )
        )
        env.update(KEEL_SMTP_HOST="127.0.0.1", KEEL_SMTP_PORT=str(DEV_SMTP_PORT))
    mail = (
        f"dev inbox {inbox / 'new'} (one file per message)" if not settings.smtp_host else settings.smtp_host
    )
    children += [
        subprocess.Popen([sys.executable, "-m", "keel", "serve"], env=env),
        subprocess.Popen([sys.executable, "-m", "keel", "worker"], env=env),
    ]
    database = "DATABASE_URL" if settings.database_url else f"embedded, data in {settings.data_dir}"
    console.print(
        f"\n[bold]Keel is running[/]\n  API       {api}/api/v1\n  API docs  {api}/api/docs\n"
        f"  Metrics   {api}/metrics\n"
        f"  Web app   http://127.0.0.1:{settings.web_port} (not part of this build yet)\n"
        f"  Sign in   {api}/login (demo users above; also in {settings.data_dir / 'demo-users'})\n"
        f"  Mail      {mail}\n"
        f"  Database  {database}\n  Demo key  {settings.data_dir / 'demo-api-key'}\n"
        "  Ctrl-C stops everything.\n"
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [c.args for c in children if c.returncode not in (0, -signal.SIGINT, 130)]
    if failed:
        raise typer.Exit(1)


def _platform(action: Callable[[PlatformUnitOfWork], Awaitable[T]]) -> T:
    """Run one audited platform action as the operator; a refusal is printed and exits 1."""
    configure_logging(get_settings())

    async def run() -> T:
        async with platform_unit_of_work(_operator()) as uow:
            return await action(uow)

    try:
        return asyncio.run(run())
    except Problem as problem:
        console.print(f"[red]{problem.title}[/]: {problem.detail}")
        for error in problem.extensions.get("errors", []):
            console.print(f"  {error['field']}: {error['message']}")
        raise typer.Exit(1) from problem


@orgs_app.command("create")
def create_org(name: str, slug: str) -> None:
    """Create an organisation and print its first API key (shown once)."""
    org, secret = _platform(lambda uow: onboard_organization(uow, name, slug))
    console.print(f"organisation {org.id}\nAPI key (shown once): {secret}")


@orgs_app.command("list")
def list_orgs() -> None:
    """List every organisation."""
    table = Table("id", "slug", "name", "status")
    for o in _platform(organizations.list_organizations):
        table.add_row(str(o.id), o.slug, o.name, o.status)
    console.print(table)


@orgs_app.command("lift-allowlist")
def lift_allowlist(slug: str) -> None:
    """Recovery: let an organisation's API and sign-in accept every address again (audited)."""
    _platform(lambda uow: organizations.lift_ip_allowlist(uow, slug))
    console.print(f"{slug}: IP allowlist lifted")


@orgs_app.command("plan")
def set_org_plan(slug: str, plan: str) -> None:
    """Move an organisation to another plan; its rate limit follows (audited)."""
    _platform(lambda uow: organizations.set_plan(uow, slug, plan))
    console.print(f"{slug}: plan {plan}")


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Sign new access tokens with a fresh key; the old one verifies until its tokens expire."""
    key = _platform(lambda uow: rotate_signing_key(uow, get_key_ring()))
    console.print(f"now signing with key {key.kid}")


def _set_disabled(email: str, *, disabled: bool) -> None:
    _platform(lambda uow: set_disabled(uow, email, disabled=disabled))
    console.print(f"{email} {'disabled: sessions and tokens ended' if disabled else 'enabled'}")


@users_app.command("disable")
def disable_user(email: str) -> None:
    """Disable an account in every organisation; its sessions and tokens stop working at once."""
    _set_disabled(email, disabled=True)


@users_app.command("enable")
def enable_user(email: str) -> None:
    """Let a disabled account sign in again (old sessions and tokens stay dead)."""
    _set_disabled(email, disabled=False)


@app.command()
def permissions() -> None:
    """Print the role → permission matrix as Markdown (docs/security/permissions.md)."""
    sys.stdout.write(permissions_markdown())


@audit_app.command("maintain")
def maintain_audit() -> None:
    """Create the coming months' audit partitions and detach months past their category's retention
    into the keel_archive schema (run it monthly, e.g. from cron; `keel migrate` runs it too)."""
    settings = get_settings()
    configure_logging(settings)
    _maintain_audit(settings)


@audit_app.command("verify")
def verify_audit(org: Annotated[str | None, typer.Option(help="one organisation's slug")] = None) -> None:
    """Recompute every organisation's audit hash chain; name each altered, missing or reordered row."""
    configure_logging(get_settings())

    async def run() -> list[tuple[str, int, list[ChainBreak]]]:
        async with platform_unit_of_work(_operator()) as uow:
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


@jobs_app.command("failed")
def failed_jobs(limit: int = 50) -> None:
    """Jobs that exhausted their retries."""
    settings = get_settings()
    configure_logging(settings)
    load_task_modules()

    async def run() -> list[tuple[str, ...]]:
        async with open_job_app(libpq_url(role_url(settings, APP_ROLE))) as job_app:
            jobs = await job_app.job_manager.list_jobs_async(status="failed")
            return [
                (str(j.id), j.task_name, j.queue, str(j.attempts), json.dumps(j.task_kwargs)[:80])
                for j in list(jobs)[-limit:]
            ]

    table = Table("id", "task", "queue", "attempts", "arguments")
    for row in asyncio.run(run()):
        table.add_row(*row)
    console.print(table)


@jobs_app.command("retry")
def retry_job(job_id: int) -> None:
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


@app.command()
def openapi(output: Annotated[Path, typer.Option()] = Path("openapi.json")) -> None:
    """Write the OpenAPI document (committed; a test fails when it drifts)."""
    document = create_app().openapi()
    output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {output}")
