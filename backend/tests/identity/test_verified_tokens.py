"""An access token is verified once per process and key set: the same token again is not checked anew
until the keys are reloaded, and never past its expiry or after its key stopped verifying."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from joserfc import jws

from keel.identity import dependencies
from keel.identity.signing_keys import key_cache
from keel.identity.tokens import CLOCK_SKEW_SECONDS
from tests.conftest import DatabaseUnderTest, Org
from tests.identity.conftest import MakeUser, bearer, tokens_for

ORGANIZATION = "/api/v1/organization"


async def test_the_same_token_is_verified_once_and_still_answers(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await tokens_for(client, await make_user(org_a)))["access_token"]
    checked: list[str] = []
    verify = dependencies.validate_access_token

    def counting(value: str, **options: object) -> dict[str, object]:
        checked.append(value)
        return verify(value, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(dependencies, "validate_access_token", counting)
    for _ in range(3):
        assert (await client.get(ORGANIZATION, headers=bearer(token))).status_code == 200
    assert checked.count(token) <= 1


async def test_a_verified_token_is_refused_once_it_expires(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await tokens_for(client, await make_user(org_a)))["access_token"]
    assert (await client.get(ORGANIZATION, headers=bearer(token))).status_code == 200
    expires = json.loads(jws.extract_compact(token.encode()).payload)["exp"]
    later = float(expires + CLOCK_SKEW_SECONDS + 1)
    monkeypatch.setattr(dependencies.time, "time", lambda: later)
    refused = await client.get(ORGANIZATION, headers=bearer(token))
    assert refused.status_code == 401


async def test_a_verified_token_is_refused_once_its_key_stops_verifying(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    token = (await tokens_for(client, await make_user(org_a)))["access_token"]
    assert (await client.get(ORGANIZATION, headers=bearer(token))).status_code == 200
    kid = jws.extract_compact(token.encode()).protected["kid"]
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as admin:
        admin.execute(
            "UPDATE keel.signing_keys SET verify_until = %s WHERE kid = %s",
            [datetime.now(UTC) - timedelta(seconds=1), kid],
        )
    key_cache.clear()  # what the cache's minute does by itself
    assert (await client.get(ORGANIZATION, headers=bearer(token))).status_code == 401
