"""DPoP proofs (RFC 9449): the client proves, per request, that it holds the key a token is bound to.

`check_proof` verifies one proof and returns the thumbprint (`jkt`) of its key. It refuses proofs of
another type or algorithm, with a private or symmetric key, for another method or URL, outside the
time window, replayed (`jti` seen before), for another access token (`ath`) or without the server's
current nonce when one is required.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, import_key

from keel.core.cache import SharedState

ALGORITHMS = ("ES256", "Ed25519", "EdDSA")
PROOF_TYPE = "dpop+jwt"
MAX_AGE_SECONDS = 60
CLOCK_SKEW_SECONDS = 5
MAX_PROOF_BYTES = 4096
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class InvalidProof(Exception):
    """The proof must not be accepted; `use_nonce` carries the nonce the client should retry with."""

    def __init__(self, reason: str, *, use_nonce: str | None = None) -> None:
        super().__init__(reason)
        self.use_nonce = use_nonce


class ReplayGuard(Protocol):
    async def first_use(self, jti: str, ttl_seconds: int) -> bool:
        """True the first time `jti` is seen within `ttl_seconds`; False on every later call."""
        ...


class SharedStateReplayGuard:
    """Proof ids seen by any API process (Redis), or by this one (memory) without Redis."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    async def first_use(self, jti: str, ttl_seconds: int) -> bool:
        return await self._state.add_once(f"dpop:jti:{jti}", ttl_seconds)


class NonceSource:
    """Server nonces without server state: an HMAC of the current time window. A proof may carry
    the current window's nonce or the previous one's, so a nonce lives between one and two windows."""

    def __init__(self, key: bytes, window_seconds: int = 300) -> None:
        self._key, self._window = key, window_seconds

    def _for(self, window: int) -> str:
        digest = hmac.new(self._key, str(window).encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()

    def current(self, now: float | None = None) -> tuple[str, str]:
        """(nonce to hand out, previous window's nonce still accepted)."""
        window = int((time.time() if now is None else now) // self._window)
        return self._for(window), self._for(window - 1)


def canonical_url(url: str) -> str:
    """The `htu` comparison form: scheme and host lower-cased, no query or fragment (RFC 9449 §4.3)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def is_jwk_thumbprint(value: str) -> bool:
    """A base64url SHA-256 JWK thumbprint (RFC 7638): 43 characters, no padding, canonical."""
    if len(value) != 43 or not _BASE64URL.fullmatch(value):
        return False
    # The last character carries 2 unused bits; only one spelling of each digest is accepted.
    raw = base64.urlsafe_b64decode(value + "=")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == value


def access_token_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the proof's key: what a bound token's cnf.jkt must equal
    claims: dict[str, Any]


async def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    replay: ReplayGuard,
    access_token: str | None = None,
    nonce: str | None = None,
    previous_nonce: str | None = None,
    now: int | None = None,
) -> Proof:
    if not proof or len(proof) > MAX_PROOF_BYTES:
        raise InvalidProof("missing or oversized proof")
    try:
        header = jws.extract_compact(proof.encode()).protected
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise InvalidProof("not a compact JWS") from exc
    if header.get("typ") != PROOF_TYPE:
        raise InvalidProof("typ must be dpop+jwt")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidProof(f"algorithm {header.get('alg')!r} is not allowed")
    key = _public_key(header.get("jwk"))
    try:
        claims = jwt.decode(proof, key, algorithms=list(ALGORITHMS)).claims
    except (JoseError, ValueError) as exc:
        raise InvalidProof("bad signature") from exc

    if claims.get("htm") != method.upper():
        raise InvalidProof("htm does not match the request method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or canonical_url(htu) != canonical_url(url):
        raise InvalidProof("htu does not match the request URL")
    at = int(time.time()) if now is None else now
    iat = claims.get("iat")
    if not isinstance(iat, int) or iat > at + CLOCK_SKEW_SECONDS or iat < at - MAX_AGE_SECONDS:
        raise InvalidProof("iat outside the accepted window", use_nonce=nonce)
    if nonce is not None:
        sent = str(claims.get("nonce", "")).encode()
        fresh = hmac.compare_digest(sent, nonce.encode())
        recent = previous_nonce is not None and hmac.compare_digest(sent, previous_nonce.encode())
        if not (fresh or recent):
            raise InvalidProof("a fresh server nonce is required", use_nonce=nonce)
    if access_token is not None:
        if not hmac.compare_digest(
            str(claims.get("ath", "")).encode(), access_token_hash(access_token).encode()
        ):
            raise InvalidProof("ath does not match the access token")
    elif "ath" in claims:
        raise InvalidProof("ath on a request without an access token")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise InvalidProof("jti missing")
    # Replays are checked last, so a proof refused above does not use up its jti.
    if not await replay.first_use(f"{key.thumbprint()}:{jti}", MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS):
        raise InvalidProof("jti already used")
    return Proof(jkt=key.thumbprint(), claims=claims)


def _public_key(jwk: object) -> ECKey | OKPKey:
    if not isinstance(jwk, dict):
        raise InvalidProof("jwk header missing")
    if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise InvalidProof("jwk must be a public key")
    try:
        key = import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidProof("jwk is not a usable key") from exc
    if not isinstance(key, ECKey | OKPKey) or key.is_private:
        raise InvalidProof("jwk must be a public EC or OKP key")
    return key


def server_nonces(required: bool, key: bytes) -> tuple[str, str] | tuple[None, None]:
    """The nonces a proof must carry now (current, previous), or (None, None) when not required."""
    if not required:
        return None, None
    return NonceSource(key).current()
