"""DPoP proofs (RFC 9449): a valid proof binds to its key; each way to misuse one is refused."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey
from redis.asyncio import Redis

from keel.core.cache import MemoryState, RedisState
from keel.identity.dpop import (
    InvalidProof,
    NonceSource,
    SharedStateReplayGuard,
    access_token_hash,
    check_proof,
    is_jwk_thumbprint,
)

URL = "https://keel.test/api/v1/organization"
NOW = 1_795_600_000


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def make_proof(
    key: Any,
    *,
    alg: str = "ES256",
    typ: str = "dpop+jwt",
    jwk: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    body: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": "GET", "htu": URL, "iat": NOW}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    header = {"typ": typ, "alg": alg, "jwk": jwk if jwk is not None else key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(body), key, algorithms=[alg])


async def check(proof: str, **options: Any) -> Any:
    options.setdefault("method", "GET")
    options.setdefault("url", URL)
    options.setdefault("replay", SharedStateReplayGuard(MemoryState()))
    options.setdefault("now", NOW)
    return await check_proof(proof, **options)


async def test_a_valid_proof_yields_the_thumbprint_of_its_key(key: ECKey) -> None:
    proof = await check(make_proof(key))
    assert proof.jkt == key.thumbprint()


async def test_an_ed25519_key_is_accepted_too() -> None:
    key = OKPKey.generate_key("Ed25519")
    assert (await check(make_proof(key, alg="Ed25519"))).jkt == key.thumbprint()


async def test_the_url_is_compared_without_query_or_fragment_and_with_case_folded_host(key: ECKey) -> None:
    proof = make_proof(key, htu="HTTPS://KEEL.TEST/api/v1/organization")
    assert await check(proof, url=URL + "?expand=settings#top")


async def test_a_replayed_proof_is_refused(key: ECKey) -> None:
    guard = SharedStateReplayGuard(MemoryState())
    proof = make_proof(key)
    await check(proof, replay=guard)
    with pytest.raises(InvalidProof, match="already used"):
        await check(proof, replay=guard)


async def test_replays_are_caught_across_api_processes_through_redis(key: ECKey, redis_url: str) -> None:
    async with (
        Redis.from_url(redis_url) as first,
        Redis.from_url(redis_url) as second,
    ):
        proof = make_proof(key)
        await check(proof, replay=SharedStateReplayGuard(RedisState(first)))
        with pytest.raises(InvalidProof, match="already used"):
            await check(proof, replay=SharedStateReplayGuard(RedisState(second)))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"typ": "JWT"}, "typ"),
        ({"typ": "at+jwt"}, "typ"),
        ({"htm": "POST"}, "htm"),
        ({"htu": "https://keel.test/api/v1/api-keys"}, "htu"),
        ({"htu": "https://evil.test/api/v1/organization"}, "htu"),
        ({"iat": NOW - 120}, "iat"),
        ({"iat": NOW + 60}, "iat"),
        ({"iat": None}, "iat"),
        ({"jti": None}, "jti"),
        ({"jti": "short"}, "jti"),
        ({"ath": access_token_hash("some-token")}, "ath"),
    ],
)
async def test_a_proof_for_another_request_type_or_time_is_refused(
    key: ECKey, changes: dict[str, Any], reason: str
) -> None:
    typ = changes.pop("typ", "dpop+jwt")
    with pytest.raises(InvalidProof, match=reason):
        await check(make_proof(key, typ=typ, **changes))


async def test_hmac_and_none_algorithms_are_refused(key: ECKey) -> None:
    secret = OctKey.generate_key(256)
    hmac_proof = jws.serialize_compact(
        {"typ": "dpop+jwt", "alg": "HS256", "jwk": key.as_dict(private=False)},
        json.dumps({"jti": secrets.token_urlsafe(16), "htm": "GET", "htu": URL, "iat": NOW}),
        secret,
        algorithms=["HS256"],
    )
    with pytest.raises(InvalidProof, match="algorithm"):
        await check(hmac_proof)
    signed = make_proof(key)
    payload_part = signed.split(".")[1]
    none_header = jws.extract_compact(signed.encode()).protected | {"alg": "none"}
    unsigned = base64.urlsafe_b64encode(json.dumps(none_header).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidProof, match="algorithm"):
        await check(f"{unsigned}.{payload_part}.")


async def test_a_private_key_in_the_header_is_refused(key: ECKey) -> None:
    with pytest.raises(InvalidProof, match="public"):
        await check(make_proof(key, jwk=key.as_dict(private=True)))


async def test_a_proof_signed_by_another_key_than_its_header_names_is_refused(key: ECKey) -> None:
    other = ECKey.generate_key("P-256")
    with pytest.raises(InvalidProof, match="signature"):
        await check(make_proof(other, jwk=key.as_dict(private=False)))


async def test_the_access_token_hash_must_match_when_a_token_is_sent(key: ECKey) -> None:
    token = "eyJ.access.token"
    assert await check(make_proof(key, ath=access_token_hash(token)), access_token=token)
    with pytest.raises(InvalidProof, match="ath"):
        await check(make_proof(key, ath=access_token_hash("another")), access_token=token)
    with pytest.raises(InvalidProof, match="ath"):
        await check(make_proof(key), access_token=token)


async def test_a_server_nonce_is_required_when_set_and_offered_back(key: ECKey) -> None:
    with pytest.raises(InvalidProof) as missing:
        await check(make_proof(key), nonce="n-123")
    assert missing.value.use_nonce == "n-123"
    assert await check(make_proof(key, nonce="n-123"), nonce="n-123")
    with pytest.raises(InvalidProof, match="nonce"):
        await check(make_proof(key, nonce="n-old"), nonce="n-123")


@pytest.mark.parametrize("value", ["", "abc", "a.b.c", "x" * 5000])
async def test_garbage_is_refused_cleanly(value: str) -> None:
    with pytest.raises(InvalidProof):
        await check(value)


async def test_a_refused_proof_does_not_use_up_its_jti(key: ECKey) -> None:
    guard = SharedStateReplayGuard(MemoryState())
    jti = secrets.token_urlsafe(16)
    with pytest.raises(InvalidProof, match="htm"):
        await check(make_proof(key, jti=jti, htm="POST"), replay=guard)
    assert await check(make_proof(key, jti=jti), replay=guard)


async def test_server_nonces_rotate_by_window_and_the_previous_one_still_counts(key: ECKey) -> None:
    source = NonceSource(b"k" * 32, window_seconds=300)
    current, previous = source.current(now=NOW)
    assert current != previous and source.current(now=NOW + 1) == (current, previous)
    later, still = source.current(now=NOW + 300)
    assert still == current
    assert await check(make_proof(key, nonce=current), nonce=later, previous_nonce=still)
    with pytest.raises(InvalidProof, match="nonce") as stale:
        await check(make_proof(key, nonce=previous), nonce=later, previous_nonce=still)
    assert stale.value.use_nonce == later
    assert NonceSource(b"other key" * 4).current(now=NOW)[0] != current


async def test_non_ascii_ath_or_nonce_is_refused_not_crashed(key: ECKey) -> None:
    with pytest.raises(InvalidProof, match="ath"):
        await check(make_proof(key, ath="é" * 43), access_token="token")
    with pytest.raises(InvalidProof, match="nonce"):
        await check(make_proof(key, nonce="ñ"), nonce="n-123")


def test_jwk_thumbprints_of_real_keys_pass_and_near_misses_do_not() -> None:
    for key in (ECKey.generate_key("P-256"), OKPKey.generate_key("Ed25519")):
        assert is_jwk_thumbprint(key.thumbprint())
    good = ECKey.generate_key("P-256").thumbprint()
    canonical_last = "AEIMQUYcgkosw048"  # the last character's 2 unused bits must be zero
    other_last = next(c for c in "BCDFGH" if c != good[-1])
    for bad in (good[:-1], good + "A", good + "=", good[:-1] + other_last, good.replace(good[0], "+", 1)):
        assert not is_jwk_thumbprint(bad), bad
    assert good[-1] in canonical_last
