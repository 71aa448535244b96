"""`Idempotency-Key` on POST /api/v1/api-keys: retries are safe, misuse is refused, failures leave no key."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

import keel.identity.api_keys
from keel.core.errors import Problem
from tests.conftest import Org

KEYS = "/api/v1/api-keys"


async def admin_scalar(test_database: Any, sql: str, *params: object) -> Any:
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        row = await (await conn.execute(sql, params)).fetchone()
    return row[0] if row else None


async def api_key_count(test_database: Any, org: Org) -> int:
    return int(
        await admin_scalar(test_database, "SELECT count(*) FROM keel.api_keys WHERE org_id = %s", org.id)
    )


async def issued_events(test_database: Any, org: Org) -> int:
    return int(
        await admin_scalar(
            test_database,
            "SELECT count(*) FROM keel.audit_events WHERE org_id = %s AND action = 'api_key.issued'",
            org.id,
        )
    )


async def idempotency_rows(test_database: Any, org: Org) -> int:
    return int(
        await admin_scalar(
            test_database, "SELECT count(*) FROM keel.idempotency_keys WHERE org_id = %s", org.id
        )
    )


def byte_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def post(client: httpx.AsyncClient, org: Org, body: Any, key: str | None) -> Any:
    headers = {**org.headers}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(KEYS, json=body, headers=headers)


async def test_the_same_key_and_body_replay_the_first_response_and_issue_one_api_key(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    keys_before = await api_key_count(test_database, org_a)
    first = await post(client, org_a, {"name": "deploy"}, "retry-1")
    second = await post(client, org_a, {"name": "deploy"}, "retry-1")
    third = await post(client, org_a, {"name": "deploy"}, "retry-1")

    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.content == third.content
    for replay in (second, third):
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["content-type"] == first.headers["content-type"]
        # The same key, but its secret is shown once only: a replay does not hand it out again.
        assert replay.json() == {**first.json(), "secret": None}
        # A replay is a new request: it gets its own request id.
        assert replay.headers["x-request-id"] != first.headers["x-request-id"]
    assert await api_key_count(test_database, org_a) == keys_before + 1
    assert await issued_events(test_database, org_a) == 2  # the onboarding key and this one
    # The secret shown the first time is the one that works.
    check = await client.get(KEYS, headers={"Authorization": f"Bearer {first.json()['secret']}"})
    assert check.status_code == 200


async def test_the_same_key_with_a_different_body_is_refused_with_422_and_issues_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    first = await post(client, org_a, {"name": "deploy"}, "reused")
    assert first.status_code == 201
    keys_before = await api_key_count(test_database, org_a)

    response = await post(client, org_a, {"name": "something else"}, "reused")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert "Idempotency-Key" in problem["detail"]
    assert "idempotent-replayed" not in response.headers
    assert await api_key_count(test_database, org_a) == keys_before
    # The original stays replayable.
    again = await post(client, org_a, {"name": "deploy"}, "reused")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


async def test_a_body_that_differs_only_in_formatting_counts_as_a_different_request(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    """The fingerprint is over the bytes sent; a client retrying must resend the same bytes."""
    headers = {**org_a.headers, "Idempotency-Key": "bytes", "Content-Type": "application/json"}
    first = await client.post(KEYS, content=b'{"name":"deploy"}', headers=headers)
    same = await client.post(KEYS, content=b'{"name":"deploy"}', headers=headers)
    spaced = await client.post(KEYS, content=b'{"name": "deploy"}', headers=headers)
    assert first.status_code == 201
    assert same.headers["idempotent-replayed"] == "true"
    assert spaced.status_code == 422


async def test_the_same_key_in_two_organisations_is_independent(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, test_database: Any
) -> None:
    a = await post(client, org_a, {"name": "deploy"}, "shared-key")
    b = await post(client, org_b, {"name": "deploy"}, "shared-key")
    b_other_body = await post(client, org_b, {"name": "other"}, "shared-key-2")
    a_other_body = await post(client, org_a, {"name": "other"}, "shared-key-2")

    for response in (a, b, b_other_body, a_other_body):
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
    assert a.json()["id"] != b.json()["id"]
    assert await api_key_count(test_database, org_a) == 3
    assert await api_key_count(test_database, org_b) == 3
    # Each organisation replays its own answer, never the other's.
    assert (await post(client, org_b, {"name": "deploy"}, "shared-key")).json()["id"] == b.json()["id"]
    assert (await post(client, org_a, {"name": "deploy"}, "shared-key")).json()["id"] == a.json()["id"]


async def test_a_key_is_scoped_to_the_organisation_not_to_the_api_key_that_sent_it(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    second_key = (await post(client, org_a, {"name": "second"}, None)).json()["secret"]
    first = await post(client, org_a, {"name": "deploy"}, "org-wide")
    replay = await client.post(
        KEYS,
        json={"name": "deploy"},
        headers={"Authorization": f"Bearer {second_key}", "Idempotency-Key": "org-wide"},
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]


async def test_without_a_key_each_post_issues_a_new_api_key(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    first = await post(client, org_a, {"name": "deploy"}, None)
    second = await post(client, org_a, {"name": "deploy"}, None)
    assert first.json()["id"] != second.json()["id"]
    assert await api_key_count(test_database, org_a) == 3
    assert await idempotency_rows(test_database, org_a) == 0


async def test_a_request_refused_for_its_body_claims_no_key_so_the_corrected_retry_runs(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    refused = await post(client, org_a, {"name": ""}, "fix-and-retry")
    assert refused.status_code == 422
    assert await idempotency_rows(test_database, org_a) == 0

    corrected = await post(client, org_a, {"name": "fixed"}, "fix-and-retry")

    assert corrected.status_code == 201
    assert "idempotent-replayed" not in corrected.headers
    assert corrected.json()["name"] == "fixed"
    assert await api_key_count(test_database, org_a) == 2


@pytest.mark.parametrize(
    "failure",
    [Problem(503, "Try again."), RuntimeError("boom")],
    ids=["problem", "crash"],
)
async def test_a_request_that_fails_after_claiming_the_key_leaves_no_key_so_the_retry_runs(
    client: httpx.AsyncClient,
    org_a: Org,
    test_database: Any,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    real_issue = keel.identity.api_keys.issue_api_key

    async def issue_then_fail(*args: Any, **kwargs: Any) -> Any:
        await real_issue(*args, **kwargs)  # the key row and the api key are written...
        raise failure  # ...and then the request fails

    monkeypatch.setattr(keel.identity.api_keys, "issue_api_key", issue_then_fail)
    failed = await post(client, org_a, {"name": "deploy"}, "after-failure")
    assert failed.status_code == (503 if isinstance(failure, Problem) else 500)
    assert failed.headers["content-type"] == "application/problem+json"
    assert await idempotency_rows(test_database, org_a) == 0
    assert await api_key_count(test_database, org_a) == 1

    monkeypatch.setattr(keel.identity.api_keys, "issue_api_key", real_issue)
    retry = await post(client, org_a, {"name": "deploy"}, "after-failure")

    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert await api_key_count(test_database, org_a) == 2


async def test_concurrent_duplicates_issue_exactly_one_api_key_and_all_get_the_same_answer(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    keys_before = await api_key_count(test_database, org_a)

    responses = await asyncio.gather(*(post(client, org_a, {"name": "burst"}, "burst-1") for _ in range(8)))

    assert {r.status_code for r in responses} == {201}
    replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    (original,) = [r for r in responses if r not in replays]
    assert len(replays) == 7
    assert all(r.json() == {**original.json(), "secret": None} for r in replays)
    assert original.json()["secret"].startswith("keel_sk_")
    assert await api_key_count(test_database, org_a) == keys_before + 1
    assert await issued_events(test_database, org_a) == 2
    assert await idempotency_rows(test_database, org_a) == 1


async def test_concurrent_requests_with_different_keys_all_run(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    responses = await asyncio.gather(*(post(client, org_a, {"name": "burst"}, f"k-{i}") for i in range(6)))
    assert [r.status_code for r in responses] == [201] * 6
    assert len({r.json()["id"] for r in responses}) == 6
    assert await api_key_count(test_database, org_a) == 7


async def test_an_expired_key_runs_the_request_again(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, settings: Any
) -> None:
    first = await post(client, org_a, {"name": "deploy"}, "old-key")
    assert first.status_code == 201
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        await conn.execute(
            "UPDATE keel.idempotency_keys SET created_at = now() - make_interval(hours => %s) "
            "WHERE org_id = %s AND key = 'old-key'",
            (settings.idempotency_ttl_hours + 1, org_a.id),
        )

    again = await post(client, org_a, {"name": "deploy"}, "old-key")

    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await api_key_count(test_database, org_a) == 3
    # ...and the fresh answer is what is replayed from now on.
    replay = await post(client, org_a, {"name": "deploy"}, "old-key")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == again.json()["id"]


async def test_a_key_inside_the_window_is_still_replayed(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, settings: Any
) -> None:
    first = await post(client, org_a, {"name": "deploy"}, "recent-key")
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        await conn.execute(
            "UPDATE keel.idempotency_keys SET created_at = now() - make_interval(hours => %s) "
            "WHERE org_id = %s AND key = 'recent-key'",
            (settings.idempotency_ttl_hours - 1, org_a.id),
        )
    replay = await post(client, org_a, {"name": "deploy"}, "recent-key")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("key", ["x" * 256, "tab\tkey", "nul\x00key"])
async def test_an_unusable_idempotency_key_is_refused_with_a_problem_and_issues_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, key: str
) -> None:
    response = await client.post(
        KEYS,
        json={"name": "deploy"},
        headers=[*byte_headers(org_a.headers), (b"Idempotency-Key", key.encode())],
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"
    assert "idempotency" in response.text.lower()
    assert await api_key_count(test_database, org_a) == 1
    assert await idempotency_rows(test_database, org_a) == 0


async def test_a_key_of_255_printable_characters_is_accepted(client: httpx.AsyncClient, org_a: Org) -> None:
    key = "k" * 255
    first = await post(client, org_a, {"name": "deploy"}, key)
    replay = await post(client, org_a, {"name": "deploy"}, key)
    assert first.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert UUID(replay.json()["id"]) == UUID(first.json()["id"])
