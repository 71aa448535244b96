"""Request bodies: a cap (413, before or while the body is read) and a read timeout (408), so one client
cannot hold a worker or its memory; a refused body changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keel.core.db import runtime_database
from keel.main import create_app
from tests.conftest import Org
from tests.core.test_api_standards import KEYS, SECURITY_HEADERS, assert_problem, snapshot


async def test_a_body_over_the_cap_with_content_length_is_refused_with_413(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, settings: Any
) -> None:
    before = await snapshot(test_database, org_a.id)
    payload = b'{"name": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    response = await client.post(
        KEYS, content=payload, headers={**org_a.headers, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 413)
    assert str(settings.max_body_bytes) in problem["detail"]
    assert response.headers["x-request-id"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert await snapshot(test_database, org_a.id) == before


async def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient, org_a: Org, settings: Any
) -> None:
    async def never_sent() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    response = await client.post(
        KEYS,
        content=never_sent(),
        headers={
            **org_a.headers,
            "Content-Type": "application/json",
            "Content-Length": str(settings.max_body_bytes + 1),
        },
    )
    assert_problem(response, 413)


async def test_a_body_slower_than_the_timeout_is_refused_with_408_and_changes_nothing(
    org_a: Org, test_database: Any, settings: Any
) -> None:
    before = await snapshot(test_database, org_a.id)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"name": '
        await asyncio.sleep(1.0)  # a slow client, holding the request open
        yield b'"slow"}'

    impatient = create_app(settings.model_copy(update={"body_timeout_seconds": 0.3}), db=runtime_database())
    transport = httpx.ASGITransport(app=impatient)
    async with httpx.AsyncClient(transport=transport, base_url="https://keel.test") as slow_client:
        response = await slow_client.post(
            KEYS, content=trickle(), headers={**org_a.headers, "Content-Type": "application/json"}
        )
    problem = assert_problem(response, 408)
    assert "0.3 seconds" in problem["detail"]
    assert await snapshot(test_database, org_a.id) == before


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b'{"name": "'
    sent = 0
    while sent < total:
        chunk = min(size, total - sent)
        yield b"x" * chunk
        sent += chunk
    yield b'"}'


@pytest.mark.parametrize("content_type", ["application/json", None])
async def test_a_streamed_body_over_the_cap_without_content_length_is_refused_with_413(
    client: httpx.AsyncClient,
    org_a: Org,
    test_database: Any,
    settings: Any,
    content_type: str | None,
) -> None:
    before = await snapshot(test_database, org_a.id)
    headers = {**org_a.headers, "Idempotency-Key": "streamed"}
    if content_type:
        headers["Content-Type"] = content_type
    request = client.build_request(
        "POST", KEYS, content=_chunks(settings.max_body_bytes * 2), headers=headers
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"

    response = await client.send(request)

    assert_problem(response, 413)
    assert response.headers["x-request-id"]
    assert await snapshot(test_database, org_a.id) == before


async def test_a_streamed_body_under_the_cap_is_accepted(client: httpx.AsyncClient, org_a: Org) -> None:
    async def small() -> AsyncIterator[bytes]:
        yield b'{"name": '
        yield b'"streamed"}'

    response = await client.post(
        KEYS, content=small(), headers={**org_a.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 201
    assert response.json()["name"] == "streamed"
