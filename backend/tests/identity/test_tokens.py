"""Access tokens: what Keel issues validates; every way to forge or stretch one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, KeySet

from keel.identity.tokens import (
    ACCESS_TOKEN_SECONDS,
    AccessToken,
    InvalidAccessToken,
    issue_access_token,
    new_signing_key,
    validate_access_token,
)

ISSUER = "https://keel.test"
AUDIENCE = "https://keel.test/api"
NOW = 1_795_600_000
TOKEN = AccessToken(subject="user-1", client_id="web", org_id="org-1", roles=("sales_rep",), scope="crm")


@pytest.fixture(scope="module")
def key() -> ECKey:
    return new_signing_key()


def issue(key: ECKey, **overrides: Any) -> str:
    options: dict[str, Any] = {"signing_key": key, "issuer": ISSUER, "audience": AUDIENCE, "now": NOW}
    options.update(overrides)
    return issue_access_token(TOKEN, **options)


def validate(value: str, keys: list[ECKey], now: int = NOW + 1) -> dict[str, Any]:
    return validate_access_token(value, keys=KeySet(keys), issuer=ISSUER, audience=AUDIENCE, now=now)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def claims_of(value: str) -> dict[str, Any]:
    payload = value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def test_an_issued_token_carries_the_rfc_9068_claims_and_validates(key: ECKey) -> None:
    claims = validate(issue(key), [key])
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["sub"] == "user-1" and claims["client_id"] == "web" and claims["org_id"] == "org-1"
    assert claims["roles"] == ["sales_rep"] and claims["scope"] == "crm"
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_SECONDS <= 600
    assert len(claims["jti"]) >= 16
    header = jws.extract_compact(issue(key).encode()).protected
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}


def test_each_token_has_its_own_jti(key: ECKey) -> None:
    assert claims_of(issue(key))["jti"] != claims_of(issue(key))["jti"]


def test_a_dpop_bound_token_carries_the_key_thumbprint(key: ECKey) -> None:
    bound = issue_access_token(
        AccessToken(subject="u", client_id="web", org_id="o", confirmation_jkt="thumb"),
        signing_key=key,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
    )
    assert validate(bound, [key])["cnf"] == {"jkt": "thumb"}


def test_alg_none_is_refused(key: ECKey) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": key.kid}
    unsigned = forge(header, claims_of(issue(key)), lambda _: b"")
    with pytest.raises(InvalidAccessToken, match="algorithm"):
        validate(unsigned, [key])


def test_hmac_signed_with_the_public_key_is_refused(key: ECKey) -> None:
    public = json.dumps(key.as_dict(private=False), sort_keys=True).encode()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    confused = forge(
        header, claims_of(issue(key)), lambda data: hmac.new(public, data, hashlib.sha256).digest()
    )
    with pytest.raises(InvalidAccessToken, match="algorithm"):
        validate(confused, [key])


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
def test_a_token_that_names_its_own_key_is_refused(key: ECKey, member: str) -> None:
    attacker = new_signing_key()
    header: dict[str, Any] = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    header[member] = {
        "jwk": attacker.as_dict(private=False),
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIB"],
    }[member]
    forged = jws.serialize_compact(header, json.dumps(claims_of(issue(key))), attacker, algorithms=["ES256"])
    with pytest.raises(InvalidAccessToken):
        validate(forged, [key])


def test_a_token_signed_by_another_key_with_our_kid_is_refused(key: ECKey) -> None:
    impostor = ECKey.generate_key("P-256", parameters={"kid": key.kid})
    with pytest.raises(InvalidAccessToken, match="signature"):
        validate(issue(impostor), [key])


def test_a_changed_claim_breaks_the_signature(key: ECKey) -> None:
    header_part, _, signature = issue(key).split(".")
    claims = claims_of(issue(key)) | {"org_id": "org-2"}
    tampered = f"{header_part}.{b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(InvalidAccessToken, match="signature"):
        validate(tampered, [key])


@pytest.mark.parametrize("typ", [None, "JWT", "dpop+jwt", "at+JWT+x"])
def test_a_token_of_another_type_is_refused(key: ECKey, typ: str | None) -> None:
    header: dict[str, Any] = {"alg": "ES256", "kid": key.kid}
    if typ is not None:
        header["typ"] = typ
    other = jws.serialize_compact(header, json.dumps(claims_of(issue(key))), key, algorithms=["ES256"])
    with pytest.raises(InvalidAccessToken, match="typ"):
        validate(other, [key])


def test_unknown_or_missing_kid_is_refused(key: ECKey) -> None:
    with pytest.raises(InvalidAccessToken, match="unknown kid"):
        validate(issue(new_signing_key()), [key])
    no_kid = jws.serialize_compact(
        {"alg": "ES256", "typ": "at+jwt"}, json.dumps(claims_of(issue(key))), key, algorithms=["ES256"]
    )
    with pytest.raises(InvalidAccessToken, match="no kid"):
        validate(no_kid, [key])


def test_an_expired_token_is_refused_past_the_clock_skew(key: ECKey) -> None:
    token = issue(key)
    assert validate(token, [key], now=NOW + ACCESS_TOKEN_SECONDS + 29)
    with pytest.raises(InvalidAccessToken, match="claims"):
        validate(token, [key], now=NOW + ACCESS_TOKEN_SECONDS + 31)


def test_a_token_issued_in_the_future_is_refused(key: ECKey) -> None:
    # iat after now (beyond the clock skew) is an invalid claim.
    with pytest.raises(InvalidAccessToken, match="claims"):
        validate(issue(key, now=NOW + 120), [key], now=NOW)


def test_a_longer_lifetime_than_keel_issues_is_refused(key: ECKey) -> None:
    with pytest.raises(InvalidAccessToken, match="lifetime"):
        validate(issue(key, lifetime=3600), [key])


@pytest.mark.parametrize(("issuer", "audience"), [("https://evil.test", AUDIENCE), (ISSUER, "https://other")])
def test_another_issuer_or_audience_is_refused(key: ECKey, issuer: str, audience: str) -> None:
    with pytest.raises(InvalidAccessToken, match="claims"):
        validate(issue(key, issuer=issuer, audience=audience), [key])


@pytest.mark.parametrize("value", ["", "abc", "a.b", "a.b.c", "x" * 5000, "..", "é.é.é"])
def test_garbage_is_refused_cleanly(key: ECKey, value: str) -> None:
    with pytest.raises(InvalidAccessToken):
        validate(value, [key])


def test_after_rotation_the_old_key_verifies_until_it_leaves_the_set(key: ECKey) -> None:
    newer = new_signing_key()
    old_token = issue(key)
    assert validate(old_token, [newer, key])
    assert validate(issue(newer), [newer, key])
    with pytest.raises(InvalidAccessToken, match="unknown kid"):
        validate(old_token, [newer])


def test_real_time_is_used_when_no_clock_is_given(key: ECKey) -> None:
    fresh = issue_access_token(TOKEN, signing_key=key, issuer=ISSUER, audience=AUDIENCE)
    claims = validate_access_token(fresh, keys=KeySet([key]), issuer=ISSUER, audience=AUDIENCE)
    assert abs(claims["iat"] - time.time()) < 60
