"""API keys are confidential clients (ADR 0005): client credentials give short tokens for their org."""

from __future__ import annotations

import base64

import httpx

from keel.core.platform import platform_unit_of_work
from keel.identity.clients import register_client
from tests.conftest import Org
from tests.identity.conftest import MakeUser, authorization, authorization_code, bearer, redeem
from tests.identity.test_authorization_code import claims_of

ORGANIZATION = "/api/v1/organization"


async def first_key_id(client: httpx.AsyncClient, org: Org) -> str:
    keys = (await client.get("/api/v1/api-keys", headers=org.headers)).json()["items"]
    return str(keys[0]["id"])


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_an_api_key_gets_a_token_for_its_organisation(
    client: httpx.AsyncClient, org_a: Org, authorization_server: None
) -> None:
    key_id = await first_key_id(client, org_a)
    answer = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(key_id, org_a.api_key)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "refresh_token" not in body and body["expires_in"] <= 600
    claims = claims_of(body["access_token"])
    assert claims["org_id"] == str(org_a.id) and claims["client_id"] == key_id
    me = await client.get(ORGANIZATION, headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == str(org_a.id)
    post = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": key_id, "client_secret": org_a.api_key},
    )
    assert post.status_code == 200


async def test_wrong_secret_or_another_keys_id_gets_invalid_client(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, authorization_server: None
) -> None:
    key_a, key_b = await first_key_id(client, org_a), await first_key_id(client, org_b)
    for client_id, secret in ((key_a, org_a.api_key + "x"), (key_b, org_a.api_key), (key_a, "keel_sk_nope")):
        answer = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
        )
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", client_id


async def test_api_keys_cannot_use_other_grants_and_public_clients_cannot_use_client_credentials(
    client: httpx.AsyncClient, org_a: Org, authorization_server: None
) -> None:
    key_id = await first_key_id(client, org_a)
    refresh = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x" * 80},
        headers=basic(key_id, org_a.api_key),
    )
    assert refresh.status_code in (400, 401)
    public = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "test-web"}
    )
    assert public.status_code in (400, 401) and "access_token" not in public.text


async def test_revoking_the_key_ends_its_access_tokens_at_once(
    client: httpx.AsyncClient, org_a: Org, authorization_server: None
) -> None:
    key_id = await first_key_id(client, org_a)
    other = await client.post("/api/v1/api-keys", json={"name": "admin"}, headers=org_a.headers)
    token = (
        await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(key_id, org_a.api_key)
        )
    ).json()["access_token"]
    assert (
        await client.delete(f"/api/v1/api-keys/{key_id}", headers=bearer(other.json()["secret"]))
    ).status_code == 200
    assert (await client.get(ORGANIZATION, headers=bearer(token))).status_code == 401


async def test_a_confidential_client_must_authenticate_to_redeem_its_code(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    async with platform_unit_of_work("tests") as uow:
        secret = await register_client(
            uow, "crm-sync", "CRM sync", ["https://sync.test/cb"], first_party=True, confidential=True
        )
    assert secret is not None
    user = await make_user(org_a)
    request = authorization(client_id="crm-sync", redirect_uri="https://sync.test/cb")
    code = await authorization_code(client, user, request)
    without = await redeem(client, code, request)
    assert without.status_code == 401 and without.json()["error"] == "invalid_client"
    wrong = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://sync.test/cb",
            "code_verifier": request.verifier,
        },
        headers=basic("crm-sync", secret + "x"),
    )
    assert wrong.status_code == 401
    right = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://sync.test/cb",
            "code_verifier": request.verifier,
        },
        headers=basic("crm-sync", secret),
    )
    assert right.status_code == 200, right.text
