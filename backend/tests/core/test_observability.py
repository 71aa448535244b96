"""Logs, metrics, health and readiness: what an operator sees."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
import structlog
from fastapi import FastAPI

from keel.core.config import Settings, get_settings
from keel.core.logging import REDACTED, configure_logging
from keel.main import create_app
from tests.conftest import Org

KEYS = "/api/v1/api-keys"


# --- capturing log lines as the production JSON renderer would write them ------------------------------


class _JsonLines(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.raw.append(text)
        self.lines.append(json.loads(text))


@contextmanager
def captured_logs() -> Iterator[_JsonLines]:
    """Attach a handler that runs Keel's own processor chain and renders JSON, like production does."""
    root = logging.getLogger()
    ours = next(
        (h.formatter for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)),
        None,
    )
    if ours is None:
        configure_logging(get_settings())
        ours = next(
            h.formatter for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
        )
    assert isinstance(ours, structlog.stdlib.ProcessorFormatter)
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=ours.foreign_pre_chain,
    )
    handler = _JsonLines(formatter)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("logger") == "keel.access" and line.get("event") == "request"]


@pytest.fixture
def noisy_app(app: FastAPI) -> FastAPI:
    """A second application on the same database with throwaway routes that log and fail."""
    application = create_app()
    struct_log = structlog.get_logger("keel.tests")
    stdlib_log = logging.getLogger("some.library")

    async def chatty() -> dict[str, str]:
        struct_log.info("handler_says_hello", answer=42)
        stdlib_log.warning("a library warns inside the request")
        return {"ok": "yes"}

    async def leaky() -> dict[str, str]:
        struct_log.info(
            "credentials_seen",
            password="hunter2",
            api_key="keel_sk_leaked",
            authorization="Bearer keel_sk_leaked2",
            db_password="pw-db",
            refresh_token="tok-123",
            client_secret="shh-123",
            cookie="session=abc",
            visible="plain value",
        )
        return {"ok": "yes"}

    async def leaky_nested() -> dict[str, str]:
        struct_log.info(
            "incoming", headers={"Authorization": "Bearer keel_sk_nested", "Accept": "application/json"}
        )
        return {"ok": "yes"}

    async def explode() -> None:
        raise RuntimeError("secret detail")

    application.add_api_route("/chatty", chatty, methods=["GET"])
    application.add_api_route("/leaky", leaky, methods=["GET"])
    application.add_api_route("/leaky-nested", leaky_nested, methods=["GET"])
    application.add_api_route("/explode", explode, methods=["GET"])
    return application


def client_for(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://keel.test")


# --- logs ---------------------------------------------------------------------------------------------


async def test_every_log_line_written_while_serving_a_request_carries_its_request_id(
    noisy_app: FastAPI,
) -> None:
    async with client_for(noisy_app) as http:
        with captured_logs() as logs:
            response = await http.get("/chatty", headers={"X-Request-ID": "obs-chatty-1"})
            other = await http.get("/chatty")

    assert response.status_code == 200
    # httpx's own "HTTP Request: ..." lines are the test client's, not the server's.
    served = [line for line in logs.lines if line.get("logger") != "httpx"]
    first = [line for line in served if line.get("request_id") == "obs-chatty-1"]
    second = [line for line in served if line.get("request_id") == other.headers["x-request-id"]]
    assert len(first) + len(second) == len(served), served
    assert {line["event"] for line in first} == {
        "handler_says_hello",
        "a library warns inside the request",
        "request",
    }
    assert len(second) == 3


async def test_the_access_line_has_request_id_route_template_method_and_status(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    issued = (await client.post(KEYS, json={"name": "logged"}, headers=org_a.headers)).json()
    with captured_logs() as logs:
        revoked = await client.delete(
            f"{KEYS}/{issued['id']}", headers={**org_a.headers, "X-Request-ID": "rv-1"}
        )
        missing = await client.delete(f"{KEYS}/{uuid4()}", headers={**org_a.headers, "X-Request-ID": "rv-2"})

    assert revoked.status_code == 200
    assert missing.status_code == 404
    lines = {line["request_id"]: line for line in access_lines(logs.lines)}
    assert lines["rv-1"]["route"] == "/api/v1/api-keys/{key_id}"
    assert lines["rv-1"]["status"] == 200
    assert lines["rv-1"]["method"] == "DELETE"
    assert lines["rv-1"]["path"] == f"{KEYS}/{issued['id']}"
    assert lines["rv-1"]["level"] == "info"
    assert isinstance(lines["rv-1"]["ms"], int | float)
    assert lines["rv-1"]["org_id"] == str(org_a.id)
    assert lines["rv-2"]["route"] == "/api/v1/api-keys/{key_id}"
    assert lines["rv-2"]["status"] == 404
    assert "timestamp" in lines["rv-1"]


async def test_the_access_line_records_refusals_before_routing_and_unknown_routes(
    client: httpx.AsyncClient, org_a: Org, settings: Any
) -> None:
    with captured_logs() as logs:
        await client.get("/api/v1/nowhere/" + "x" * 20, headers={"X-Request-ID": "lost-1"})
        await client.post(
            KEYS,
            content=b"x" * (settings.max_body_bytes + 1),
            headers={**org_a.headers, "Content-Type": "application/json", "X-Request-ID": "big-1"},
        )
        await client.get(KEYS, headers={"X-Request-ID": "anon-1"})

    lines = {line["request_id"]: line for line in access_lines(logs.lines)}
    assert (lines["lost-1"]["route"], lines["lost-1"]["status"]) == ("unmatched", 404)
    assert lines["big-1"]["status"] == 413
    assert (lines["anon-1"]["route"], lines["anon-1"]["status"]) == ("/api/v1/api-keys", 401)


async def test_an_unexpected_error_is_logged_with_its_request_id_and_traceback(noisy_app: FastAPI) -> None:
    async with client_for(noisy_app) as http:
        with captured_logs() as logs:
            response = await http.get("/explode", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    errors = [line for line in logs.lines if line.get("event") == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "boom-1"
    assert errors[0]["level"] == "error"
    assert "RuntimeError: secret detail" in errors[0]["exception"]  # the operator does see it
    access = [line for line in access_lines(logs.lines) if line["request_id"] == "boom-1"]
    assert [line["status"] for line in access] == [500]


async def test_secret_fields_in_log_lines_are_redacted(noisy_app: FastAPI) -> None:
    async with client_for(noisy_app) as http:
        with captured_logs() as logs:
            await http.get("/leaky")

    (line,) = [line for line in logs.lines if line.get("event") == "credentials_seen"]
    for field in (
        "password",
        "api_key",
        "authorization",
        "db_password",
        "refresh_token",
        "client_secret",
        "cookie",
    ):
        assert line[field] == REDACTED, field
    assert line["visible"] == "plain value"
    text = "\n".join(logs.raw)
    for leaked in ("hunter2", "keel_sk_leaked", "pw-db", "tok-123", "shh-123", "session=abc"):
        assert leaked not in text


async def test_secret_fields_nested_inside_a_logged_mapping_are_redacted(noisy_app: FastAPI) -> None:
    async with client_for(noisy_app) as http:
        with captured_logs() as logs:
            await http.get("/leaky-nested")

    (line,) = [line for line in logs.lines if line.get("event") == "incoming"]
    assert "keel_sk_nested" not in "\n".join(logs.raw)
    assert line["headers"]["Accept"] == "application/json"


async def test_no_log_line_contains_the_api_key_that_authenticated_the_request(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    with captured_logs() as logs:
        issued = await client.post(KEYS, json={"name": "quiet"}, headers=org_a.headers)
        await client.get(KEYS, headers={"Authorization": "Bearer keel_sk_wrong-one"})
    text = "\n".join(logs.raw)
    assert org_a.api_key not in text
    assert issued.json()["secret"] not in text
    assert "keel_sk_wrong-one" not in text


# --- metrics ------------------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    key_id = (await client.post(KEYS, json={"name": "m"}, headers=org_a.headers)).json()["id"]
    await client.delete(f"{KEYS}/{key_id}", headers=org_a.headers)
    await client.get("/api/v1/organization", headers=org_a.headers)
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        await conn.execute("SET search_path TO procrastinate")  # its triggers use unqualified names
        await conn.execute(
            "INSERT INTO procrastinate.procrastinate_jobs (queue_name, task_name, args) "
            "VALUES ('observability', 'tests.noop', '{}')"
        )

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(
        r'keel_http_requests_total\{method="DELETE",route="/api/v1/api-keys/\{key_id\}",status="200"\} [1-9]',
        text,
    )
    assert re.search(
        r'keel_http_requests_total\{method="POST",route="/api/v1/api-keys",status="201"\} [1-9]', text
    )
    assert re.search(
        r'keel_http_requests_total\{method="GET",route="/api/v1/organization",status="200"\}', text
    )
    assert key_id not in text  # ids never become label values
    assert re.search(
        r'keel_http_request_duration_seconds_bucket\{le="[^"]+",method="DELETE",route="/api/v1/api-keys/\{key_id\}"\}',
        text,
    ) or re.search(
        r'keel_http_request_duration_seconds_bucket\{method="DELETE",route="/api/v1/api-keys/\{key_id\}",le="[^"]+"\}',
        text,
    )
    assert "keel_http_request_duration_seconds_count" in text
    assert re.search(r'keel_db_pool_connections_in_use\{pool="app"\} \d', text)
    assert re.search(r'keel_jobs\{queue="observability",state="todo"\} 1\.0', text)


@pytest.mark.parametrize("key_id", ["api-keys", "v1", "api"])
async def test_the_route_label_is_the_template_even_when_a_parameter_looks_like_a_path_segment(
    client: httpx.AsyncClient, org_a: Org, key_id: str
) -> None:
    with captured_logs() as logs:
        response = await client.delete(f"{KEYS}/{key_id}", headers={**org_a.headers, "X-Request-ID": "odd-1"})
    assert response.status_code == 422
    (line,) = [line for line in access_lines(logs.lines) if line["request_id"] == "odd-1"]
    assert line["route"] == "/api/v1/api-keys/{key_id}"
    text = (await client.get("/metrics")).text
    assert not re.search(r'route="[^"]*\{key_id\}[^"]*\{key_id\}', text)


async def test_unknown_paths_share_one_metrics_label(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await client.get(f"/no-such-page-{i}")
    text = (await client.get("/metrics")).text
    assert "no-such-page" not in text
    assert re.search(r'keel_http_requests_total\{method="GET",route="unmatched",status="404"\}', text)


# --- health and readiness -----------------------------------------------------------------------------


async def test_healthz_answers_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_when_the_schema_is_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ready"}


async def test_readyz_answers_503_problem_when_the_schema_is_not_at_head(
    client: httpx.AsyncClient, test_database: Any
) -> None:
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        (head,) = await (await conn.execute("SELECT version_num FROM keel.alembic_version")).fetchone() or (
            "",
        )
        try:
            await conn.execute("UPDATE keel.alembic_version SET version_num = 'behind'")
            response = await client.get("/readyz")
        finally:
            await conn.execute("UPDATE keel.alembic_version SET version_num = %s", (head,))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 503
    assert "behind" in problem["detail"]
    assert head in problem["detail"]
    assert (await client.get("/readyz")).status_code == 200


# --- settings -----------------------------------------------------------------------------------------


def test_settings_never_show_a_secret_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DATABASE_URL", "KEEL_DATABASE_URL", "REDIS_URL", "KEEL_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    secrets = {
        "DATABASE_URL": "postgresql://owner:pw-owner-111@db.internal:5432/keel",
        "REDIS_URL": "redis://:pw-redis-222@cache.internal:6379/0",
        "KEEL_APP_DATABASE_URL": "postgresql://keel_app:pw-app-333@db.internal/keel",
        "KEEL_PLATFORM_DATABASE_URL": "postgresql://keel_platform:pw-platform-444@db.internal/keel",
        "KEEL_APP_DB_PASSWORD": "pw-app-555",
        "KEEL_PLATFORM_DB_PASSWORD": "pw-platform-666",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == secrets["DATABASE_URL"]  # still usable
    shown = "\n".join(
        [
            repr(settings),
            str(settings),
            f"{settings}",
            settings.model_dump_json(),
            json.dumps(settings.model_dump(mode="json")),
            repr(settings.model_dump()),
        ]
    )
    for value in secrets.values():
        password = value.rsplit(":", 1)[-1].split("@")[0] if "@" in value else value
        assert password not in shown, password
        assert value not in shown
