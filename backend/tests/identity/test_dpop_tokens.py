"""DPoP end to end (RFC 9449): key-bound tokens from the token endpoint, and the API's checks of them."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from keel.core.config import get_settings
from keel.identity.dpop import access_token_hash
from tests.conftest import PUBLIC_URL, Org
from tests.identity.conftest import (
    WEB_CLIENT,
    MakeUser,
    Person,
    authorization,
    authorization_code,
    bearer,
    redeem,
)
from tests.identity.test_authorization_code import claims_of

TOKEN_URL = PUBLIC_URL + "/oauth/token"
API_URL = PUBLIC_URL + "/api/v1/organization"


def proof(key: ECKey, method: str, url: str, *, access_token: str | None = None, **claims: Any) -> str:
    body: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    if access_token:
        body["ath"] = access_token_hash(access_token)
    body.update(claims)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(body), key, algorithms=["ES256"])


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


async def dpop_tokens(client: httpx.AsyncClient, user: Person, key: ECKey) -> dict[str, str]:
    request = authorization()
    code = await authorization_code(client, user, request)
    answer = await redeem(client, code, request, headers={"DPoP": proof(key, "POST", TOKEN_URL)})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def dpop_headers(key: ECKey, token: str, method: str = "GET", url: str = API_URL) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof(key, method, url, access_token=token)}


async def test_token_endpoint_binds_tokens_to_the_proof_key(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    tokens = await dpop_tokens(client, await make_user(org_a), key)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    answer = await client.get(API_URL, headers=dpop_headers(key, tokens["access_token"]))
    assert answer.status_code == 200


async def test_a_bound_token_sent_as_bearer_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    tokens = await dpop_tokens(client, await make_user(org_a), key)
    assert (await client.get(API_URL, headers=bearer(tokens["access_token"]))).status_code == 401


async def test_an_unbound_token_sent_as_dpop_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    from tests.identity.conftest import tokens_for

    tokens = await tokens_for(client, await make_user(org_a))
    answer = await client.get(API_URL, headers=dpop_headers(key, tokens["access_token"]))
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "spoil",
    [
        "other key",
        "no proof",
        "no ath",
        "wrong method",
        "wrong url",
        "stale",
        "replayed",
    ],
)
async def test_each_bad_proof_on_the_api_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey, spoil: str
) -> None:
    token = (await dpop_tokens(client, await make_user(org_a), key))["access_token"]
    headers = dpop_headers(key, token)
    if spoil == "other key":
        headers = dpop_headers(ECKey.generate_key("P-256"), token)
    elif spoil == "no proof":
        del headers["DPoP"]
    elif spoil == "no ath":
        headers["DPoP"] = proof(key, "GET", API_URL)
    elif spoil == "wrong method":
        headers["DPoP"] = proof(key, "POST", API_URL, access_token=token)
    elif spoil == "wrong url":
        headers["DPoP"] = proof(key, "GET", PUBLIC_URL + "/api/v1/api-keys", access_token=token)
    elif spoil == "stale":
        headers["DPoP"] = proof(key, "GET", API_URL, access_token=token, iat=int(time.time()) - 600)
    elif spoil == "replayed":
        assert (await client.get(API_URL, headers=headers)).status_code == 200
    answer = await client.get(API_URL, headers=headers)
    assert answer.status_code == 401, spoil
    assert answer.headers["www-authenticate"].startswith("DPoP") or spoil == "other key"


async def test_an_invalid_proof_at_the_token_endpoint_issues_nothing(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    answer = await redeem(
        client, code, request, headers={"DPoP": proof(key, "POST", PUBLIC_URL + "/oauth/other")}
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_dpop_proof"


async def test_a_bound_refresh_token_needs_a_proof_with_the_same_key(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    tokens = await dpop_tokens(client, await make_user(org_a), key)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": WEB_CLIENT}
    without = await client.post("/oauth/token", data=form)
    assert without.status_code == 400
    stolen = await client.post(
        "/oauth/token", data=form, headers={"DPoP": proof(ECKey.generate_key("P-256"), "POST", TOKEN_URL)}
    )
    assert stolen.status_code == 400
    rightful = await client.post("/oauth/token", data=form, headers={"DPoP": proof(key, "POST", TOKEN_URL)})
    assert rightful.status_code == 200 and rightful.json()["token_type"] == "DPoP"


async def test_server_nonce_is_asked_for_then_accepted(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await dpop_tokens(client, await make_user(org_a), key)
    monkeypatch.setattr(get_settings(), "dpop_nonce_required", True)

    first = await client.get(API_URL, headers=dpop_headers(key, tokens["access_token"]))
    assert first.status_code == 401 and 'error="use_dpop_nonce"' in first.headers["www-authenticate"]
    nonce = first.headers["dpop-nonce"]
    retry = await client.get(
        API_URL,
        headers={
            "Authorization": f"DPoP {tokens['access_token']}",
            "DPoP": proof(key, "GET", API_URL, access_token=tokens["access_token"], nonce=nonce),
        },
    )
    assert retry.status_code == 200

    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": WEB_CLIENT}
    asked = await client.post("/oauth/token", data=form, headers={"DPoP": proof(key, "POST", TOKEN_URL)})
    assert asked.status_code == 400 and asked.json()["error"] == "use_dpop_nonce"
    nonce = asked.headers["dpop-nonce"]
    again = await client.post(
        "/oauth/token", data=form, headers={"DPoP": proof(key, "POST", TOKEN_URL, nonce=nonce)}
    )
    assert again.status_code == 200
