"""Codes bound to a DPoP key at the authorization endpoint (`dpop_jkt`, RFC 9449 section 10): redeemed
only with a proof by that key; a malformed thumbprint is an error; unbound codes work as before."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from tests.conftest import PUBLIC_URL, Org
from tests.identity.conftest import (
    PARTNER_REDIRECT,
    REDIRECT,
    THIRD_PARTY,
    WEB_CLIENT,
    MakeUser,
    authorization,
    authorization_code,
    csrf_of,
    query_of,
    redeem,
    sign_in,
)
from tests.identity.test_authorization_code import claims_of
from tests.identity.test_dpop_tokens import API_URL, TOKEN_URL, dpop_headers, proof


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def with_proof(key: ECKey | OKPKey) -> dict[str, str]:
    if isinstance(key, ECKey):
        return {"DPoP": proof(key, "POST", TOKEN_URL)}
    body = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
    header = {"typ": "dpop+jwt", "alg": "Ed25519", "jwk": key.as_dict(private=False)}
    return {"DPoP": jws.serialize_compact(header, json.dumps(body), key, algorithms=["Ed25519"])}


async def test_a_bound_code_redeemed_with_its_key_gives_tokens_bound_to_that_key(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    request = authorization(dpop_jkt=key.thumbprint())
    code = await authorization_code(client, await make_user(org_a), request)
    answer = await redeem(client, code, request, headers=with_proof(key))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    assert (await client.get(API_URL, headers=dpop_headers(key, tokens["access_token"]))).status_code == 200
    renewed = await client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": WEB_CLIENT,
        },
        headers=with_proof(key),
    )
    assert renewed.status_code == 200 and renewed.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("presented", ["another key", "no proof", "another kind of key"])
async def test_a_bound_code_is_refused_without_a_proof_by_its_key_and_stays_redeemable(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey, presented: str
) -> None:
    request = authorization(dpop_jkt=key.thumbprint())
    code = await authorization_code(client, await make_user(org_a), request)
    if presented == "another key":
        refused = await redeem(client, code, request, headers=with_proof(ECKey.generate_key("P-256")))
    elif presented == "no proof":
        refused = await redeem(client, code, request)
    else:  # a valid Ed25519 proof: any key but the named one is refused
        refused = await redeem(client, code, request, headers=with_proof(OKPKey.generate_key("Ed25519")))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text
    assert "access_token" not in refused.text
    # The refused attempt did not spend the code: its holder redeems it once, as usual.
    rightful = await redeem(client, code, request, headers=with_proof(key))
    assert rightful.status_code == 200, rightful.text
    again = await redeem(client, code, request, headers=with_proof(key))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("with_dpop", [False, True])
async def test_an_unbound_code_works_with_and_without_dpop_as_before(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey, with_dpop: bool
) -> None:
    request = authorization()
    code = await authorization_code(client, await make_user(org_a), request)
    answer = await redeem(client, code, request, headers=with_proof(key) if with_dpop else None)
    assert answer.status_code == 200, answer.text
    claims = claims_of(answer.json()["access_token"])
    assert answer.json()["token_type"] == ("DPoP" if with_dpop else "Bearer")
    assert claims.get("cnf") == ({"jkt": key.thumbprint()} if with_dpop else None)


@pytest.mark.parametrize(
    "malformed",
    [
        "short",
        "A" * 42,
        "A" * 44,
        "A" * 42 + "B",  # 43 characters, but not a canonical spelling of 32 bytes (unused bits set)
        "A" * 42 + "=",
        "A" * 41 + "+/",  # base64, not base64url
        "0" * 64,  # a hex SHA-256
        "A" * 42 + "\u00e9",
    ],
)
async def test_a_malformed_dpop_jkt_redirects_back_with_invalid_request(
    client: httpx.AsyncClient, authorization_server: None, malformed: str
) -> None:
    request = authorization(dpop_jkt=malformed)
    answer = await client.get(request.url)
    assert answer.status_code == 302, answer.text[:300]
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["error"] == "invalid_request" and "dpop_jkt" in query["error_description"]
    assert query["state"] == request.state and query["iss"] == PUBLIC_URL
    assert "code" not in query


async def test_two_dpop_jkt_parameters_are_refused(
    client: httpx.AsyncClient, authorization_server: None, key: ECKey
) -> None:
    request = authorization(dpop_jkt=key.thumbprint())
    twice = "/oauth/authorize?" + urlencode([*request.params.items(), ("dpop_jkt", key.thumbprint())])
    answer = await client.get(twice)
    assert answer.status_code == 302
    assert query_of(answer.headers["location"])["error"] == "invalid_request"


async def test_a_malformed_dpop_jkt_with_an_unregistered_redirect_uri_gets_the_error_page(
    client: httpx.AsyncClient, authorization_server: None
) -> None:
    answer = await client.get(authorization(redirect_uri="https://evil.test/cb", dpop_jkt="short").url)
    assert answer.status_code == 400 and "location" not in answer.headers


async def test_a_blank_dpop_jkt_counts_as_absent(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    request = authorization()
    request.params["dpop_jkt"] = ""
    code = await authorization_code(client, await make_user(org_a), request)
    assert (await redeem(client, code, request)).status_code == 200


async def test_the_binding_survives_the_consent_page(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, key: ECKey
) -> None:
    user = await make_user(org_a)
    request = authorization(client_id=THIRD_PARTY, redirect_uri=PARTNER_REDIRECT, dpop_jkt=key.thumbprint())
    await sign_in(client, user, next_page=request.url)
    page = await client.get(request.url)
    assert page.status_code == 200 and "Allow Partner" in page.text
    allowed = await client.post(
        "/oauth/authorize",
        data={**request.params, "csrf": csrf_of(page), "org_id": str(org_a.id), "decision": "allow"},
    )
    assert allowed.status_code == 303
    code = query_of(allowed.headers["location"])["code"]
    assert (await redeem(client, code, request)).status_code == 400
    answer = await redeem(client, code, request, headers=with_proof(key))
    assert answer.status_code == 200, answer.text
    assert claims_of(answer.json()["access_token"])["cnf"] == {"jkt": key.thumbprint()}


async def test_metadata_advertises_the_dpop_algorithms(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    assert "none" not in metadata["dpop_signing_alg_values_supported"]
