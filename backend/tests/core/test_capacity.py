"""At capacity: when every database or Redis connection of a process stays busy, a request waits for the
pool's timeout and is then answered 503 with Retry-After, in problem+json, having changed nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from keel.core import cache
from keel.core.config import get_settings
from keel.core.db import APP_ROLE, Database, role_url
from keel.main import create_app
from tests.conftest import PUBLIC_URL, Org
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here


def assert_retry_later(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) > 0
    assert answer.json()["status"] == 503


def small_pool(size: int) -> Database:
    url = role_url(get_settings(), APP_ROLE)
    return Database.connect(url, pool_size=size, max_overflow=0, name="keel-test", pool_timeout=0.2)


@pytest.fixture
async def one_connection() -> AsyncIterator[Database]:
    db = small_pool(1)
    yield db
    await db.dispose()


@pytest.fixture
async def two_connections() -> AsyncIterator[Database]:
    db = small_pool(2)
    yield db
    await db.dispose()


async def test_a_full_database_pool_is_a_503_and_the_request_changes_nothing(
    one_connection: Database, org_a: Org, client: httpx.AsyncClient
) -> None:
    app = create_app(get_settings(), db=one_connection)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as crowded:
        async with one_connection.engine.connect():  # the pool's only connection, busy elsewhere
            assert_retry_later(await crowded.get("/api/v1/contacts", headers=org_a.headers))
            created = await crowded.post(
                "/api/v1/accounts", json={"name": "Never made"}, headers=org_a.headers
            )
            assert_retry_later(created)
        # Free again: the same process answers, and the refused create left nothing behind.
        assert (await crowded.get("/api/v1/contacts", headers=org_a.headers)).status_code == 200
    accounts = (await client.get("/api/v1/accounts", headers=org_a.headers)).json()["items"]
    assert [a for a in accounts if a["name"] == "Never made"] == []


async def test_a_full_redis_pool_is_a_503(
    redis_url: str, org_a: Org, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "redis_url", type(settings.database_url)(redis_url))  # SecretStr
    monkeypatch.setattr(settings, "redis_max_connections", 1)
    monkeypatch.setattr(settings, "redis_pool_timeout_seconds", 0.2)
    cache.get_shared_state.cache_clear()
    state = cache.get_shared_state()
    assert isinstance(state, cache.RedisState)
    pool = state.redis.connection_pool
    held = await pool.get_connection()  # the pool's only connection, busy elsewhere
    try:
        assert_retry_later(await client.get("/api/v1/contacts", headers=org_a.headers))
    finally:
        await pool.release(held)
    assert (await client.get("/api/v1/contacts", headers=org_a.headers)).status_code == 200
    await state.redis.aclose()
    cache.get_shared_state.cache_clear()


async def test_an_export_the_pool_cannot_serve_is_a_503_before_any_row(
    two_connections: Database, org_a: Org, make_user: MakeUser
) -> None:
    """The export's own connection is taken before the response starts: when there is none, the answer
    is a 503, never a 200 whose CSV stops after its header line (as under load it did)."""
    app = create_app(get_settings(), db=two_connections)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as crowded:
        owner = str((await make_user(org_a)).id)
        made = await crowded.post(
            "/api/v1/contacts", json={"last_name": "Lovelace", "owner_id": owner}, headers=org_a.headers
        )
        assert made.status_code == 201, made.text
        # The request's transaction takes the pool's other connection, so the export's stream finds none.
        async with two_connections.engine.connect():
            assert_retry_later(await crowded.get("/api/v1/contacts/export", headers=org_a.headers))
        exported = await crowded.get("/api/v1/contacts/export", headers=org_a.headers)
        assert exported.status_code == 200
        assert "Lovelace" in exported.text
