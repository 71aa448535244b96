"""Signing keys: stored encrypted, published as a JWKS, rotated with overlap, written only by the platform."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from joserfc import jws

from keel.core import db as core_db
from keel.core.keyring import KeyRing, new_key
from keel.core.platform import platform_unit_of_work
from keel.identity.signing_keys import current_signing_key, rotate_signing_key, verification_keys
from keel.identity.tokens import AccessToken, InvalidAccessToken, issue_access_token, validate_access_token
from tests.conftest import DatabaseUnderTest

RING = KeyRing([new_key()])
ISSUER, AUDIENCE = "https://keel.test", "https://keel.test/api"


def kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


async def rotate() -> str:
    async with platform_unit_of_work("tests") as uow:
        return (await rotate_signing_key(uow, RING)).kid


async def sign_now() -> str:
    async with core_db.runtime_database().sessions() as session:
        key = await current_signing_key(session, RING)
    assert key is not None
    return issue_access_token(
        AccessToken(subject="u", client_id="web", org_id="o"),
        signing_key=key,
        issuer=ISSUER,
        audience=AUDIENCE,
    )


async def validate(token: str) -> dict[str, object]:
    async with core_db.runtime_database().sessions() as session:
        keys = await verification_keys(session)
    return validate_access_token(token, keys=keys, issuer=ISSUER, audience=AUDIENCE)


async def test_the_runtime_signs_with_the_newest_key_and_verifies_with_the_published_set(
    test_database: DatabaseUnderTest,
) -> None:
    kid = await rotate()
    token = await sign_now()
    assert (await validate(token))["sub"] == "u"
    assert kid_of(token) == kid


async def test_after_rotation_old_tokens_verify_until_they_expire_then_stop(
    test_database: DatabaseUnderTest,
) -> None:
    old_kid = await rotate()
    old_token = await sign_now()
    new_kid = await rotate()
    assert new_kid != old_kid
    assert await validate(old_token)  # still within its lifetime
    assert kid_of(await sign_now()) == new_kid
    # Once the old key's overlap has passed, it no longer verifies anything.
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as admin:
        admin.execute(
            "UPDATE keel.signing_keys SET verify_until = %s WHERE kid = %s",
            [datetime.now(UTC) - timedelta(seconds=1), old_kid],
        )
    with pytest.raises(InvalidAccessToken, match="unknown kid"):
        await validate(old_token)


async def test_private_keys_are_stored_encrypted_and_rotation_is_audited(
    test_database: DatabaseUnderTest,
) -> None:
    kid = await rotate()
    with psycopg.connect(test_database.admin_conninfo()) as admin:
        public, encrypted = admin.execute(
            "SELECT public_jwk, private_jwk_encrypted FROM keel.signing_keys WHERE kid = %s", [kid]
        ).fetchone()  # type: ignore[misc]
        actions = admin.execute("SELECT action, detail FROM keel.platform_audit_events").fetchall()
    assert "d" not in public
    assert '"d"' not in encrypted and json.loads(RING.decrypt(encrypted))["d"]
    assert [a for a, _ in actions] == ["signing_key.rotated"]


async def test_the_jwks_endpoint_publishes_public_halves_only(
    client: httpx.AsyncClient, test_database: DatabaseUnderTest
) -> None:
    first, second = await rotate(), await rotate()
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert {k["kid"] for k in keys} == {first, second}
    assert all(k["kty"] == "EC" and k["crv"] == "P-256" and "d" not in k for k in keys)
