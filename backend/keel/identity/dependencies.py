"""Authenticating an API request: who is calling (`authenticate_request`, behind `CurrentPrincipal`).

A caller presents an API key (`Bearer keel_sk_…`) or an access token from Keel's authorization
server (`Bearer <jwt>`, or `DPoP <jwt>` with a proof for a key-bound token). Checking a token
reads no database: keys come from the process's key cache and revocation marks from shared state.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any
from uuid import UUID

from fastapi import Request
from joserfc.jwk import KeySet

from keel.access.roles import API_KEY, grant_for, role_table
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.keyring import get_key_ring
from keel.core.org_policy import policy_from, policy_key, require_permitted_network
from keel.core.principal import Principal
from keel.core.ratelimit import Window, limit
from keel.core.uow import UnitOfWork
from keel.identity.api_keys import SECRET_PREFIX, authenticate
from keel.identity.dpop import InvalidProof, SharedStateReplayGuard, check_proof, server_nonces
from keel.identity.revocation import revocation_keys, revoked_by
from keel.identity.signing_keys import key_cache
from keel.identity.tokens import CLOCK_SKEW_SECONDS, InvalidAccessToken, validate_access_token

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="keel", DPoP algs="ES256 EdDSA"'}


def _unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = _CHALLENGE["WWW-Authenticate"]
    if error:
        challenge = f'DPoP error="{error}", algs="ES256 EdDSA"'
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


# Tokens already verified by this process, with the key set that verified them: a client sends the same
# token for its ten minutes, and checking the signature again each time cost a fifth of a request. An
# entry counts only while the key set is the same object (reloaded each minute, and when a key changes)
# and the token has not expired; revocation is read per request all the same.
_VERIFIED_ENTRIES = 20_000
_verified: OrderedDict[str, tuple[KeySet, dict[str, Any]]] = OrderedDict()


def _already_verified(token: str, keys: KeySet) -> dict[str, Any] | None:
    entry = _verified.get(token)
    if entry is None or entry[0] is not keys:
        return None
    if entry[1]["exp"] + CLOCK_SKEW_SECONDS < time.time():
        _verified.pop(token, None)
        return None
    return entry[1]


def _verify(token: str, keys: KeySet) -> dict[str, Any]:
    settings = get_settings()
    claims = validate_access_token(token, keys=keys, issuer=settings.issuer, audience=settings.api_audience)
    _verified[token] = (keys, claims)
    if len(_verified) > _VERIFIED_ENTRIES:
        _verified.popitem(last=False)
    return claims


async def _token_claims(uow: UnitOfWork, token: str) -> dict[str, Any]:
    keys = key_cache.cached_verification_keys() or await key_cache.load_verification_keys(uow.session)
    if (claims := _already_verified(token, keys)) is not None:
        return claims
    try:
        return _verify(token, keys)
    except InvalidAccessToken as exc:
        if str(exc) != "unknown kid" or not key_cache.may_reload_for_unknown_kid():
            raise
    return _verify(token, await key_cache.load_verification_keys(uow.session))


async def _user_principal(
    request: Request, uow: UnitOfWork, scheme: str, token: str
) -> tuple[Principal, dict[str, Any]]:
    """Who the token says is calling, and its claims (for the revocation marks read with the rest)."""
    try:
        claims = await _token_claims(uow, token)
    except InvalidAccessToken as exc:
        raise _unauthorized("The access token is not valid or has expired.") from exc
    bound_to = (claims.get("cnf") or {}).get("jkt")
    if bound_to is None and scheme == "dpop":
        raise _unauthorized("This access token is not DPoP-bound: send it as Bearer.", "invalid_token")
    if bound_to is not None:
        if scheme != "dpop":
            raise _unauthorized("This access token is DPoP-bound: send it as `Authorization: DPoP`.")
        settings = get_settings()
        nonce, previous = server_nonces(settings.dpop_nonce_required, get_key_ring().derive("dpop-nonce"))
        try:
            proof = await check_proof(
                request.headers.get("dpop", ""),
                method=request.method,
                url=settings.issuer + request.url.path,
                replay=SharedStateReplayGuard(get_shared_state()),
                access_token=token,
                nonce=nonce,
                previous_nonce=previous,
            )
        except InvalidProof as exc:
            if exc.use_nonce:
                raise Problem(
                    401,
                    "Send the proof again with the server's DPoP nonce.",
                    headers={"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": exc.use_nonce},
                ) from exc
            raise _unauthorized("The DPoP proof is not valid.", "invalid_dpop_proof") from exc
        if proof.jkt != bound_to:
            raise _unauthorized("The DPoP proof is signed by another key.", "invalid_dpop_proof")
    if claims.get("principal") == "api_key":  # client credentials: the key acts for the organisation
        org_id = UUID(claims["org_id"])
        return Principal(org_id=org_id, actor=f"api_key:{claims['sub']}", scope="api"), claims
    user_id = UUID(claims["sub"])
    principal = Principal(
        org_id=UUID(claims["org_id"]),
        actor=f"user:{user_id}",
        user_id=user_id,
        client_id=claims["client_id"],
        roles=tuple(claims.get("roles") or ()),
        scope=claims.get("scope", ""),
    )
    return principal, claims


async def authenticate_request(request: Request, uow: UnitOfWork) -> Principal:
    """Who is calling (keel.core.principal installs this as `CurrentPrincipal`), with the unit of work
    entered into their organisation, their network checked and their rate limits counted."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme not in ("bearer", "dpop") or not credentials:
        raise _unauthorized("Send an access token (`Authorization: Bearer …` or `DPoP …`) or an API key.")
    claims: dict[str, Any] | None = None
    if scheme == "bearer" and credentials.startswith(SECRET_PREFIX):
        principal = await authenticate(uow, credentials)
        if principal is None:
            raise _unauthorized("The API key is not valid or was revoked.")
    else:
        principal, claims = await _user_principal(request, uow, scheme, credentials)
    # What the request needs of shared state, in one round trip: the token's revocation marks, the
    # organisation's policy, and the rate-limit counters of the organisation (under each window its
    # plan may have) and of the user.
    settings, now = get_settings(), time.time()
    marks = revocation_keys(claims) if claims is not None else []
    org_limits = {settings.rate_limit, *settings.plan_rate_limits.values()}
    windows = [
        Window.of(f"org:{principal.org_id}", length, now)
        for length in sorted({limit(text).get_expiry() for text in org_limits})
    ]
    user_limit = limit(settings.rate_limit_user)
    if principal.user_id is not None:
        windows.append(Window.of(f"user:{principal.user_id}", user_limit.get_expiry(), now))
    values, counts = await get_shared_state().read_and_count(
        [*marks, policy_key(principal.org_id), *(w.previous for w in windows)], [w.counter for w in windows]
    )
    if claims is not None and revoked_by(claims, values[: len(marks)]):
        raise _unauthorized("The access token was revoked.")
    policy = await policy_from(uow, principal.org_id, values[len(marks)])
    require_permitted_network(policy, uow.client_ip)
    plan_limit = limit(settings.plan_rate_limits.get(policy.plan, settings.rate_limit))
    previous = values[len(marks) + 1 :]
    for window, count, before in zip(windows, counts, previous, strict=True):
        if window.key.startswith("rate:user:"):
            window.check(user_limit, count, before)
        elif window.length == plan_limit.get_expiry():  # another plan's window is counted, not checked
            window.check(plan_limit, count, before)
    if principal.user_id is None:
        grant = API_KEY
    else:
        grant = grant_for(await role_table(uow, principal.org_id, policy.access_version), principal.roles)
    principal = replace(principal, permissions=grant.permissions, record_scope=grant.record_scope)
    uow.client_id = principal.client_id
    if principal.user_id is not None or uow.org_id != principal.org_id:  # a raw API key is already in
        await uow.enter_tenant(
            principal.org_id,
            user_id=principal.user_id,
            actor=principal.actor,
            record_scope=grant.record_scope,
        )
    return principal
