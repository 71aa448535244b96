"""Test database: real PostgreSQL, migrations applied, the API talks through the runtime role.

Where the server comes from: TEST_DATABASE_URL; else a local server on 127.0.0.1:5432 when one answers;
else the embedded one. Each test run gets a fresh database; each test starts from empty tables.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

from keel.core import db as core_db
from keel.core import ratelimit
from keel.core.config import Settings, get_settings
from keel.core.embedded import embedded_database_url
from keel.core.migrate import migrate
from keel.core.platform import platform_unit_of_work
from keel.main import create_app
from keel.organizations.flows import onboard_organization


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


@pytest.fixture(scope="session")
def test_database() -> Iterator[DatabaseUnderTest]:
    server = _server_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"keel_test_{worker}_{os.getpid()}"
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = server.set(database=name, drivername="postgresql+psycopg")
    os.environ["DATABASE_URL"] = _libpq(admin)
    os.environ["KEEL_ENV"] = "test"
    for var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "REDIS_URL", "KEEL_REDIS_URL"):
        os.environ.pop(var, None)
    get_settings.cache_clear()
    migrate(get_settings())
    yield DatabaseUnderTest(admin=admin, name=name)
    core_db.runtime_database.cache_clear()
    core_db.platform_database.cache_clear()
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(test_database: DatabaseUnderTest) -> Settings:
    return get_settings()


def _app_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname IN ('keel', 'procrastinate') AND tablename <> 'alembic_version'"
    ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the database starts from empty tables and a fresh rate limiter."""
    if "test_database" not in request.fixturenames:
        yield
        return
    database: DatabaseUnderTest = request.getfixturevalue("test_database")
    ratelimit.get_rate_limiter.cache_clear()
    yield
    truncate_all(database)


def truncate_all(database: DatabaseUnderTest) -> None:
    with psycopg.connect(database.admin_conninfo(), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(_app_tables(conn))} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
async def app(test_database: DatabaseUnderTest):  # type: ignore[no-untyped-def]
    application = create_app(get_settings(), db=core_db.runtime_database())
    yield application
    await application.state.db.dispose()
    await core_db.platform_database().dispose()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://keel.test") as http:
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
