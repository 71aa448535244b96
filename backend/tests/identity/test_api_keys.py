"""Organisation API keys: issued once with the secret shown once, stored only as SHA-256, revocable."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.conftest import Org

KEYS = "/api/v1/api-keys"
EVENTS = "/api/v1/audit-events"


async def admin_rows(test_database: Any, sql: str, *params: object) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(
        test_database.admin_conninfo(), autocommit=True, row_factory=dict_row
    ) as conn:
        return await (await conn.execute(sql, params)).fetchall()


async def tables_containing(test_database: Any, needle: str) -> list[str]:
    """Every keel table with a row whose text form contains `needle` (as text, or hex-encoded in a bytea)."""
    tables = await admin_rows(
        test_database,
        "SELECT format('%%I.%%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'keel'",
    )
    found = []
    for row in tables:
        hits = await admin_rows(
            test_database,
            f"SELECT count(*) AS n FROM {row['t']} x "
            "WHERE strpos(x::text, %s) > 0 OR strpos(x::text, encode(convert_to(%s, 'UTF8'), 'hex')) > 0",
            needle,
            needle,
        )
        if hits[0]["n"]:
            found.append(row["t"])
    return found


async def issue(client: httpx.AsyncClient, org: Org, name: str = "ci", **headers: str) -> httpx.Response:
    return await client.post(KEYS, json={"name": name}, headers={**org.headers, **headers})


async def test_issuing_a_key_answers_201_with_the_secret_shown_once(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    response = await issue(client, org_a, "deploy bot")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "prefix", "created_by", "created_at", "revoked_at", "secret"}
    assert body["name"] == "deploy bot"
    assert body["secret"].startswith("keel_sk_")
    assert len(body["secret"]) >= 40
    assert body["secret"].startswith(body["prefix"])
    assert len(body["prefix"]) < len(body["secret"]) // 2
    assert body["revoked_at"] is None
    assert body["created_by"].startswith("api_key:")
    # The new key works on its own.
    works = await client.get("/api/v1/organization", headers={"Authorization": f"Bearer {body['secret']}"})
    assert works.status_code == 200
    assert works.json()["id"] == str(org_a.id)


async def test_the_secret_is_stored_only_as_its_sha256(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    body = (await issue(client, org_a)).json()
    secret = body["secret"]

    rows = await admin_rows(test_database, "SELECT * FROM keel.api_keys WHERE id = %s", UUID(body["id"]))

    assert len(rows) == 1
    assert bytes(rows[0]["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    for column, value in rows[0].items():
        text = bytes(value).hex() if isinstance(value, bytes | memoryview) else str(value)
        assert secret not in text, column
        assert secret[len(body["prefix"]) :] not in text, column
    # Nowhere else in the database either (no Idempotency-Key was sent, so no response was stored).
    assert await tables_containing(test_database, secret) == []
    assert await tables_containing(test_database, secret[len(body["prefix"]) :]) == []


async def test_an_idempotent_issue_stores_the_secret_nowhere_and_replays_it_as_null(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    first = await issue(client, org_a, **{"Idempotency-Key": "with-secret"})
    secret = first.json()["secret"]
    assert await tables_containing(test_database, secret) == []
    replay = await issue(client, org_a, **{"Idempotency-Key": "with-secret"})
    assert replay.json() == {**first.json(), "secret": None}


async def test_the_onboarding_secret_is_not_stored_either(org_a: Org, test_database: Any) -> None:
    assert await tables_containing(test_database, org_a.api_key) == []


async def test_listing_keys_never_shows_a_secret(client: httpx.AsyncClient, org_a: Org) -> None:
    issued = (await issue(client, org_a)).json()

    response = await client.get(KEYS, headers=org_a.headers)

    assert response.status_code == 200
    items = response.json()["items"]
    assert {i["id"] for i in items} == {issued["id"], items[-1]["id"]}
    for item in items:
        assert "secret" not in item
        assert "secret_hash" not in item
    assert issued["secret"] not in response.text
    assert org_a.api_key not in response.text
    assert issued["secret"][len(issued["prefix"]) :] not in response.text


async def test_listing_shows_only_the_callers_organisations_keys(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    a_key = (await issue(client, org_a)).json()["id"]
    b_key = (await issue(client, org_b)).json()["id"]
    a_ids = {i["id"] for i in (await client.get(KEYS, headers=org_a.headers)).json()["items"]}
    b_ids = {i["id"] for i in (await client.get(KEYS, headers=org_b.headers)).json()["items"]}
    assert a_key in a_ids
    assert b_key in b_ids
    assert not a_ids & b_ids


async def test_a_revoked_key_gets_401_on_its_next_request(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    issued = (await issue(client, org_a)).json()
    doomed = {"Authorization": f"Bearer {issued['secret']}"}
    assert (await client.get(KEYS, headers=doomed)).status_code == 200

    response = await client.delete(f"{KEYS}/{issued['id']}", headers=org_a.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == issued["id"]
    assert body["revoked_at"] is not None
    assert "secret" not in body
    refused = await client.get(KEYS, headers=doomed)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    # Revoked, not deleted: it stays listed with its revocation time.
    listed = {i["id"]: i for i in (await client.get(KEYS, headers=org_a.headers)).json()["items"]}
    assert listed[issued["id"]]["revoked_at"] == body["revoked_at"]
    # The key that did the revoking still works.
    assert (await client.get(KEYS, headers=org_a.headers)).status_code == 200


async def test_a_key_can_revoke_itself_and_is_refused_from_the_next_request(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    me = (await client.get(KEYS, headers=org_a.headers)).json()["items"][0]["id"]
    response = await client.delete(f"{KEYS}/{me}", headers=org_a.headers)
    assert response.status_code == 200
    assert (await client.get(KEYS, headers=org_a.headers)).status_code == 401


async def test_revoking_twice_answers_the_same_and_records_one_revocation(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    issued = (await issue(client, org_a)).json()
    first = await client.delete(f"{KEYS}/{issued['id']}", headers=org_a.headers)
    second = await client.delete(f"{KEYS}/{issued['id']}", headers=org_a.headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["revoked_at"] == second.json()["revoked_at"]
    events = (await client.get(EVENTS, params={"action": "api_key.revoked"}, headers=org_a.headers)).json()
    assert len(events["items"]) == 1


async def test_revoking_another_organisations_key_is_404_and_the_key_keeps_working(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, test_database: Any
) -> None:
    b_key = (await issue(client, org_b)).json()
    a_events_before = await admin_rows(
        test_database, "SELECT id FROM keel.audit_events WHERE org_id = %s", org_a.id
    )

    response = await client.delete(f"{KEYS}/{b_key['id']}", headers=org_a.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert (await client.get(KEYS, headers={"Authorization": f"Bearer {b_key['secret']}"})).status_code == 200
    rows = await admin_rows(
        test_database, "SELECT revoked_at FROM keel.api_keys WHERE id = %s", UUID(b_key["id"])
    )
    assert rows == [{"revoked_at": None}]
    assert (
        await admin_rows(test_database, "SELECT id FROM keel.audit_events WHERE org_id = %s", org_a.id)
        == a_events_before
    )


async def test_revoking_an_unknown_key_is_404(client: httpx.AsyncClient, org_a: Org) -> None:
    response = await client.delete(f"{KEYS}/{uuid4()}", headers=org_a.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_issuing_and_revoking_are_in_the_audit_trail_without_secrets(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    issued = await issue(client, org_a, "audited", **{"X-Request-ID": "issue-1", "User-Agent": "tests/1.0"})
    key = issued.json()
    revoked = await client.delete(
        f"{KEYS}/{key['id']}", headers={**org_a.headers, "X-Request-ID": "revoke-1"}
    )
    assert revoked.status_code == 200

    response = await client.get(EVENTS, params={"entity_type": "api_key"}, headers=org_a.headers)

    events = [e for e in response.json()["items"] if e["entity_id"] == key["id"]]
    assert [e["action"] for e in events] == ["api_key.revoked", "api_key.issued"]
    revoke_event, issue_event = events
    assert issue_event["after"] == {"name": "audited"}
    assert issue_event["request_id"] == "issue-1"
    assert revoke_event["request_id"] == "revoke-1"
    me = (await client.get(KEYS, params={"limit": 200}, headers=org_a.headers)).json()["items"][-1]["id"]
    assert issue_event["actor"] == revoke_event["actor"] == f"api_key:{me}"
    assert key["secret"] not in response.text


async def test_onboarding_records_the_first_key_as_issued_by_the_platform(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    events = (await client.get(EVENTS, params={"action": "api_key.issued"}, headers=org_a.headers)).json()[
        "items"
    ]
    assert len(events) == 1
    assert events[0]["actor"] == "platform:tests"
    assert events[0]["after"] == {"name": "Initial key"}


async def test_every_issued_secret_is_different(client: httpx.AsyncClient, org_a: Org) -> None:
    secrets = {(await issue(client, org_a)).json()["secret"] for _ in range(5)}
    assert len(secrets) == 5
