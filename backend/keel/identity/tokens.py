"""JWT access tokens (RFC 9068): issued by Keel's authorization server, checked by its resource side.

The checks pin everything an attacker could choose: the algorithm (ES256 only: no `none`, no HMAC),
the key (by `kid`, from Keel's own key set only; `jwk`, `jku`, `x5u`, `x5c` headers are refused), the
type (`at+jwt`), the issuer, the audience and the lifetime.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
ACCESS_TOKEN_SECONDS = 600  # ten minutes: revocation waits at most this long for the lookup to miss
CLOCK_SKEW_SECONDS = 30
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})


class InvalidAccessToken(Exception):
    """The token must not be accepted. The message is for logs, not for the client."""


def new_signing_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": secrets.token_urlsafe(12), "use": "sig"})


@dataclass(frozen=True)
class AccessToken:
    subject: str  # the user id, or the client id for client-credentials tokens
    client_id: str
    org_id: str
    roles: tuple[str, ...] = ()
    scope: str = ""
    confirmation_jkt: str | None = None  # DPoP key thumbprint the token is bound to (RFC 9449)
    extra: dict[str, Any] = field(default_factory=dict)


def issue_access_token(
    token: AccessToken,
    *,
    signing_key: ECKey,
    issuer: str,
    audience: str,
    now: int | None = None,
    lifetime: int = ACCESS_TOKEN_SECONDS,
) -> str:
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        **token.extra,
        "iss": issuer,
        "sub": token.subject,
        "aud": audience,
        "client_id": token.client_id,
        "org_id": token.org_id,
        "roles": list(token.roles),
        "scope": token.scope,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    if token.confirmation_jkt:
        claims["cnf"] = {"jkt": token.confirmation_jkt}
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": signing_key.kid}
    return jwt.encode(header, claims, signing_key, algorithms=[ALGORITHM])


def validate_access_token(
    value: str, *, keys: KeySet, issuer: str, audience: str, now: int | None = None
) -> dict[str, Any]:
    """The claims of a valid access token; raises InvalidAccessToken otherwise."""
    try:
        header = jws.extract_compact(value.encode()).protected
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise InvalidAccessToken("not a compact JWS") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidAccessToken(f"algorithm {header.get('alg')!r} is not allowed")
    if str(header.get("typ", "")).lower() not in (TOKEN_TYPE, "application/" + TOKEN_TYPE):
        raise InvalidAccessToken("not an access token (typ)")
    if FORBIDDEN_HEADERS & header.keys():
        raise InvalidAccessToken("token names its own key material")
    key = _key_by_id(keys.keys, header.get("kid"))
    try:
        claims = jwt.decode(value, key, algorithms=[ALGORITHM]).claims
    except (JoseError, ValueError) as exc:
        raise InvalidAccessToken("bad signature or encoding") from exc
    at = int(time.time()) if now is None else now
    registry = jwt.JWTClaimsRegistry(
        now=at,
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        client_id={"essential": True},
        org_id={"essential": True},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidAccessToken(f"claims: {exc.error}") from exc
    if claims["exp"] - claims["iat"] > ACCESS_TOKEN_SECONDS:
        raise InvalidAccessToken("lifetime longer than Keel issues")
    return claims


def _key_by_id(keys: Iterable[Any], kid: object) -> ECKey:
    if not isinstance(kid, str) or not kid:
        raise InvalidAccessToken("no kid")
    for key in keys:
        if isinstance(key, ECKey) and key.kid == kid:
            return key
    raise InvalidAccessToken("unknown kid")
