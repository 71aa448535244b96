"""A 2xx means committed; anything else leaves nothing behind — including failures at commit time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import APIRouter, FastAPI, Response
from sqlalchemy import text

from keel.core import db as core_db
from keel.core.audit_trail import record_event
from keel.core.errors import Problem
from keel.core.principal import CurrentPrincipal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.main import create_app
from keel.models import ApiKey
from tests.conftest import DatabaseUnderTest, Org


def _app_with_probe_routes() -> FastAPI:
    router = APIRouter(prefix="/probe", route_class=UnitOfWorkRoute)

    @router.post("/write-then-refuse")
    async def write_then_refuse(principal: CurrentPrincipal, uow: UoW) -> None:
        await record_event(uow, "probe.written", entity_type="probe")
        raise Problem(409, "refused after writing")

    @router.post("/write-then-answer-4xx")
    async def write_then_answer_4xx(
        principal: CurrentPrincipal, uow: UoW, response: Response
    ) -> dict[str, str]:
        await record_event(uow, "probe.written", entity_type="probe")
        response.status_code = 400
        return {"result": "a 4xx answered without raising"}

    @router.post("/commit-fails")
    async def commit_fails(principal: CurrentPrincipal, uow: UoW) -> dict[str, str]:
        await record_event(uow, "probe.written", entity_type="probe")

        async def duplicate_key(_: Response) -> None:
            key = (await uow.session.execute(ApiKey.__table__.select().limit(1))).first()
            assert key is not None
            uow.session.add(
                ApiKey(
                    org_id=key.org_id,
                    name="duplicate",
                    prefix="x",
                    secret_hash=key.secret_hash,
                    created_by="probe",
                )
            )
            await uow.session.flush()

        uow.before_commit(duplicate_key)
        return {"result": "looks fine until commit"}

    @router.post("/lock-organization")
    async def lock_organization(principal: CurrentPrincipal, uow: UoW) -> dict[str, str]:
        await uow.session.execute(text("SET LOCAL lock_timeout = '200ms'"))
        await uow.session.execute(text("SELECT 1 FROM keel.organizations FOR UPDATE"))
        return {"result": "locked"}

    @router.post("/crash")
    async def crash(principal: CurrentPrincipal, uow: UoW) -> None:
        await record_event(uow, "probe.written", entity_type="probe")
        raise RuntimeError("internal detail: password=hunter2")

    app = create_app(db=core_db.runtime_database())
    app.include_router(router)
    return app


@pytest.fixture
async def probe_client(test_database: DatabaseUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app_with_probe_routes(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://keel.test") as http:
        yield http


def _probe_events(database: DatabaseUnderTest) -> int:
    with psycopg.connect(database.admin_conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM keel.audit_events WHERE action = 'probe.written'").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/probe/write-then-refuse", 409),
        ("/probe/write-then-answer-4xx", 400),
        ("/probe/commit-fails", 409),
        ("/probe/crash", 500),
    ],
)
async def test_a_request_that_does_not_succeed_leaves_nothing_behind(
    probe_client: httpx.AsyncClient, test_database: DatabaseUnderTest, org_a: Org, path: str, status: int
) -> None:
    response = await probe_client.post(path, headers={**org_a.headers, "X-Request-ID": "probe-1"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "probe-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    if status != 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert _probe_events(test_database) == 0


async def test_a_failed_commit_is_never_reported_as_success(
    probe_client: httpx.AsyncClient, test_database: DatabaseUnderTest, org_a: Org
) -> None:
    response = await probe_client.post("/probe/commit-fails", headers=org_a.headers)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("The change conflicts")
    with psycopg.connect(test_database.admin_conninfo()) as conn:
        keys = conn.execute("SELECT count(*) FROM keel.api_keys WHERE org_id = %s", [org_a.id]).fetchone()
    assert keys == (1,)


async def test_a_lock_wait_past_the_timeout_is_a_409_to_retry_not_a_500(
    probe_client: httpx.AsyncClient, test_database: DatabaseUnderTest, org_a: Org
) -> None:
    with psycopg.connect(test_database.admin_conninfo()) as holder:
        holder.execute("SELECT 1 FROM keel.organizations WHERE id = %s FOR UPDATE", [org_a.id])
        blocked = await probe_client.post("/probe/lock-organization", headers=org_a.headers)
        holder.rollback()
    assert blocked.status_code == 409
    assert "Retry" in blocked.json()["detail"]
    free = await probe_client.post("/probe/lock-organization", headers=org_a.headers)
    assert free.status_code == 200


@pytest.mark.parametrize("query", ["action=%00x", "entity_type=a%00", "action=x&entity_type=%00"])
async def test_text_the_database_cannot_hold_is_a_422_not_a_500(
    client: httpx.AsyncClient, org_a: Org, query: str
) -> None:
    response = await client.get(f"/api/v1/audit-events?{query}", headers=org_a.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "NUL" in response.json()["detail"]
