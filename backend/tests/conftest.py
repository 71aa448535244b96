"""Test database: real PostgreSQL, migrations applied, the API talks through the runtime role.

Where the server comes from: TEST_DATABASE_URL; else a local server on 127.0.0.1:5432 when one answers;
else the embedded one. Each test run gets a fresh database; each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from argon2 import PasswordHasher
from sqlalchemy.engine import URL, make_url

from keel.core import cache, mail, ratelimit
from keel.core import db as core_db
from keel.core.config import Settings, get_settings
from keel.core.embedded import embedded_database_url
from keel.core.jobs import open_job_app
from keel.core.migrate import migrate
from keel.core.platform import platform_unit_of_work
from keel.identity import passwords
from keel.identity.signing_keys import key_cache
from keel.main import create_app
from keel.onboarding.flows import onboard_organization

BACKEND_DIR = Path(__file__).resolve().parents[1]
PUBLIC_URL = "https://keel.test"  # the issuer; clients talk to the app as this origin


def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _server_url() -> URL:
    if url := os.environ.get("TEST_DATABASE_URL"):
        return make_url(url)
    if _local_server_answers():
        return make_url("postgresql://postgres@127.0.0.1:5432/postgres")
    return make_url(embedded_database_url(Path(tempfile.gettempdir()) / "keel-test-pg"))


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class DatabaseUnderTest:
    admin: URL  # superuser/owner on the test database (setup and assertions only)
    name: str

    def admin_conninfo(self) -> str:
        return _libpq(self.admin)

    def role_conninfo(self, role: str) -> str:
        return _libpq(self.admin.set(username=role, password=None))


class Inbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append(message_from_bytes(raw, policy=default_policy))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    smtp_server[0].messages.clear()
    return smtp_server[0]


@pytest.fixture(scope="session")
def test_database(smtp_server: tuple[Inbox, int]) -> Iterator[DatabaseUnderTest]:
    os.environ["KEEL_SMTP_HOST"] = "127.0.0.1"
    os.environ["KEEL_SMTP_PORT"] = str(smtp_server[1])
    server = _server_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"keel_test_{worker}_{os.getpid()}"
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = server.set(database=name, drivername="postgresql+psycopg")
    os.environ["DATABASE_URL"] = _libpq(admin)
    os.environ["KEEL_ENV"] = "test"
    os.environ["KEEL_PUBLIC_URL"] = PUBLIC_URL
    # The default plans, and one with a small limit that tests move an organisation to.
    os.environ["KEEL_PLAN_RATE_LIMITS"] = json.dumps({**Settings().plan_rate_limits, "metered": "4/minute"})
    for var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "REDIS_URL", "KEEL_REDIS_URL"):
        os.environ.pop(var, None)
    get_settings.cache_clear()
    migrate(get_settings())
    yield DatabaseUnderTest(admin=admin, name=name)
    core_db.runtime_database.cache_clear()
    core_db.platform_database.cache_clear()
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PRODUCTION_HASHER = passwords.HASHER


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2id at its smallest memory cost: the same code, without 46 MiB and tens of milliseconds
    per password in every test that signs someone in. `production_hashing` (tests/identity/
    test_passwords.py) puts the real cost back where passwords themselves are tested."""
    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16)
    passwords._dummy_hash.cache_clear()
    yield
    passwords.HASHER = PRODUCTION_HASHER
    passwords._dummy_hash.cache_clear()


@pytest.fixture
def production_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(passwords, "HASHER", PRODUCTION_HASHER)
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def settings(test_database: DatabaseUnderTest) -> Settings:
    return get_settings()


def _tables_with_rows(conn: psycopg.Connection) -> list[str]:
    """Every table (partitions included) that holds a row: a test writes to a handful of the 120."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('keel', 'procrastinate') "
            "AND c.relkind = 'r' AND c.relname <> 'alembic_version'"
        )
    ]
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT FROM {t})" for t in tables)
    return [row[0] for row in conn.execute(probe)] if tables else []


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the database starts from empty tables and a fresh rate limiter."""
    if "test_database" not in request.fixturenames:
        yield
        return
    database: DatabaseUnderTest = request.getfixturevalue("test_database")
    ratelimit.get_rate_limiter.cache_clear()
    cache.get_shared_state.cache_clear()
    key_cache.clear()
    yield
    truncate_all(database)


def truncate_all(database: DatabaseUnderTest) -> None:
    """Empty what the test filled. DELETE from the few tables with rows costs milliseconds where
    TRUNCATE of every table costs half a second; with triggers and foreign-key checks off for this one
    transaction (session_replication_role), the order does not matter and the append-only audit
    triggers do not refuse it."""
    with psycopg.connect(database.admin_conninfo()) as conn:
        tables = _tables_with_rows(conn)
        if tables:
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("; ".join(f"DELETE FROM {t}" for t in tables))


@pytest.fixture
def admin(test_database: DatabaseUnderTest) -> Iterator[psycopg.Connection]:
    """The superuser, autocommitting: to look at or tamper with anything, past every policy."""
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def runtime(test_database: DatabaseUnderTest) -> Iterator[psycopg.Connection]:
    """The runtime role every request and job uses, bound by row-level security."""
    with psycopg.connect(test_database.role_conninfo("keel_app")) as conn:
        yield conn


@pytest.fixture(scope="session")
async def app(test_database: DatabaseUnderTest):  # type: ignore[no-untyped-def]
    application = create_app(get_settings(), db=core_db.runtime_database())
    yield application
    await application.state.db.dispose()
    await core_db.platform_database().dispose()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        yield http


@dataclass(frozen=True)
class Org:
    id: UUID
    slug: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


MakeOrg = Callable[..., Awaitable[Org]]


@pytest.fixture
def make_org(app) -> MakeOrg:  # type: ignore[no-untyped-def]
    """Create an organisation through the platform path; returns its id and first API key."""

    async def make(name: str = "Acme") -> Org:
        slug = f"org-{secrets.token_hex(4)}"
        async with platform_unit_of_work("tests") as uow:
            org, secret = await onboard_organization(uow, name, slug)
        return Org(id=org.id, slug=slug, api_key=secret)

    return make


@pytest.fixture
async def org_a(make_org: MakeOrg) -> Org:
    return await make_org("Org A")


@pytest.fixture
async def org_b(make_org: MakeOrg) -> Org:
    return await make_org("Org B")


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """TEST_REDIS_URL, else the local Redis on 6379, else a redis-server started for this module."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    if _redis_answers(6379):
        yield "redis://127.0.0.1:6379/15"
        return
    binary = shutil.which("redis-server")
    assert binary, "these tests need Redis: set TEST_REDIS_URL or install redis-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"])
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def two_api_processes(test_database: DatabaseUnderTest, redis_url: str) -> Iterator[list[str]]:
    """Two `keel serve` processes on the test database and one Redis, started once for the run: the
    tests that need them each work in organisations of their own."""
    env = keel_env(test_database, REDIS_URL=redis_url, KEEL_LOG_LEVEL="WARNING")
    with running_api(env, processes=2) as bases:
        yield bases


async def deliver_mail(test_database: DatabaseUnderTest) -> None:
    """Run the mail jobs that are waiting (a real worker, until the queue is empty)."""
    async with open_job_app(test_database.role_conninfo("keel_app")) as job_app:
        await job_app.run_worker_async(queues=[mail.QUEUE], wait=False, install_signal_handlers=False)


def keel_env(test_database: Any, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": test_database.admin_conninfo(),
        "KEEL_ENV": "test",
        "COLUMNS": "250",  # rich tables must not wrap or elide cells
        "NO_COLOR": "1",
        **extra,
    }


async def keel_cli(test_database: Any, *args: str) -> tuple[int, str]:
    """`uv run keel ARGS` as an operator would type it; returns (exit code, stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "uv",
        "run",
        "--no-sync",
        "keel",
        *args,
        cwd=BACKEND_DIR,
        env=keel_env(test_database),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exited(server: subprocess.Popen[bytes]) -> str | None:
    return None if server.poll() is None else f"keel serve exited with {server.returncode} (its log is above)"


def wait_until_ready(base: str, deadline: float, gone: Callable[[], str | None]) -> None:
    """Until `base/readyz` answers 200; fails at `deadline`, or at once when `gone()` says why the
    server cannot come (it exited)."""
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        reason = gone()
        assert reason is None, reason
        assert time.monotonic() < deadline, f"{base} did not become ready"
        time.sleep(0.2)


@contextmanager
def running_api(env: dict[str, str], processes: int = 1) -> Iterator[list[str]]:
    """`keel serve` as real processes (each on its own port), ready to answer; stopped on exit."""
    ports = [free_port() for _ in range(processes)]
    servers = [
        subprocess.Popen([sys.executable, "-m", "keel", "serve", "--port", str(p)], env=env, cwd=BACKEND_DIR)
        for p in ports
    ]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 90  # generous: a busy 2-core machine starts several slowly
        for server, base in zip(servers, bases, strict=True):
            wait_until_ready(base, deadline, partial(_exited, server))
        yield bases
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=15)
