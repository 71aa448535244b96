"""`keel dev` (what `make dev` runs): database, migrations, demo data, API, worker and a mail server,
until Ctrl-C, which stops them all and ends with exit status 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated

import typer

from keel.cli.common import console, maintain_audit, operator
from keel.cli.server import EMPTY_HELP, show_demo
from keel.core.config import Settings, get_settings
from keel.core.db import admin_url, libpq_url
from keel.core.embedded import stop_embedded_servers
from keel.core.logging import configure_logging
from keel.core.migrate import migrate as run_migrations
from keel.demo import seed_demo

STOP_SECONDS = 20  # how long the children get to finish in-flight work after Ctrl-C


def dev(empty: Annotated[bool, typer.Option("--empty", help=EMPTY_HELP)] = False) -> None:
    """Set up and run everything locally: database, migrations, demo data, API and worker."""
    settings = get_settings()
    configure_logging(settings)
    try:
        url = admin_url(settings)  # starts the embedded PostgreSQL when DATABASE_URL is not set
        run_migrations(settings, url=url)
        maintain_audit(settings)
        show_demo(asyncio.run(seed_demo(settings, operator(), with_data=not empty)), settings)
        env = {**os.environ, "DATABASE_URL": libpq_url(url)}
        env.setdefault("KEEL_PUBLIC_URL", f"http://{settings.api_host}:{settings.api_port}")
        with _terminal_foreground():
            failed = _run_until_interrupted(settings, env)
    finally:
        stop_embedded_servers()  # after every child has let go of it
    if failed:
        console.print(f"[red]stopped because these exited on their own:[/] {', '.join(failed)}")
        raise typer.Exit(1)


def _run_until_interrupted(settings: Settings, env: dict[str, str]) -> list[str]:
    """Start the children, wait for Ctrl-C (or for one to die), stop them; names the ones that died."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    inbox = settings.data_dir / "mail"
    if not settings.smtp_host:  # a local SMTP server keeps every message in the dev inbox (a Maildir)
        for folder in ("tmp", "new", "cur"):
            (inbox / folder).mkdir(parents=True, exist_ok=True)
        smtp = f"127.0.0.1:{settings.dev_smtp_port}"
        children["mail server"] = _start(
            ["-m", "aiosmtpd", "-n", "-l", smtp, "-c", "aiosmtpd.handlers.Mailbox", str(inbox)], env
        )
        env.update(KEEL_SMTP_HOST="127.0.0.1", KEEL_SMTP_PORT=str(settings.dev_smtp_port))
    children["API"] = _start(["-m", "keel", "serve"], env)
    children["worker"] = _start(["-m", "keel", "worker"], env)
    _print_where_everything_is(settings, env, inbox)
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        died = [name for name, child in children.items() if child.poll() is not None]
    except KeyboardInterrupt:
        died = []
    # A second Ctrl-C must not cut the shutdown short (nor print a traceback).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    stopped_cleanly = (0, -signal.SIGINT, 128 + signal.SIGINT)
    return died or [name for name, child in children.items() if child.returncode not in stopped_cleanly]


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Each child in its own process group: Ctrl-C reaches `keel dev` alone, which stops each child once.
    return subprocess.Popen([sys.executable, *args], env=env, process_group=0)


@contextmanager
def _terminal_foreground() -> Iterator[None]:
    """Make `keel dev` the terminal's foreground process group while it runs, so that Ctrl-C reaches it
    and not the `make` (or shell script) that started it, which would otherwise die of the signal
    itself instead of seeing `keel dev` end cleanly. Without a terminal (CI, a service) nothing changes."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield
        return
    previous: int | None = None
    try:
        if os.tcgetpgrp(tty) == os.getpgrp():
            previous = os.getpgrp()
            os.setpgid(0, 0)
            _set_foreground(tty, os.getpgrp())
    except OSError:
        previous = None
    try:
        yield
    finally:
        if previous is not None and previous != os.getpgrp():
            # When the starting group is gone, the shell takes the terminal back itself.
            with suppress(OSError):
                _set_foreground(tty, previous)
        os.close(tty)


def _set_foreground(tty: int, group: int) -> None:
    # A process outside the foreground group may hand the terminal over only with SIGTTOU ignored.
    handler = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty, group)
    finally:
        signal.signal(signal.SIGTTOU, handler)


def _print_where_everything_is(settings: Settings, env: dict[str, str], inbox: Path) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    mail = settings.smtp_host or f"dev inbox {inbox}/new (one file per message)"
    database = "DATABASE_URL" if settings.database_url else f"embedded, data in {settings.data_dir}"
    console.print(
        f"\n[bold]Keel is running[/]\n  Front door {api}/\n  API        {api}/api/v1\n"
        f"  API docs   {api}/api/docs\n  Health     {api}/healthz, {api}/readyz, {api}/metrics\n"
        f"  Sign in    {api}/login (demo users above; also in {settings.data_dir / 'demo-users'})\n"
        f"  Mail       {mail}\n  Database   {database}\n"
        f"  Demo key   {settings.data_dir / 'demo-api-key'}\n"
        "  Ctrl-C stops everything.\n",
        soft_wrap=True,
    )
