"""Public discovery documents of the authorization server (no authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from keel.core.config import get_settings
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity.authorization_server import SCOPES
from keel.identity.dpop import ALGORITHMS as DPOP_ALGORITHMS
from keel.identity.signing_keys import published_jwks

router = APIRouter(prefix="/.well-known", tags=["authorization server"], route_class=UnitOfWorkRoute)


@router.get("/jwks.json")
async def get_jwks(uow: UoW, response: Response) -> dict[str, Any]:
    """The public keys access tokens are signed with (RFC 7517). Cached briefly: keys rotate with overlap."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return await published_jwks(uow.session)


@router.get("/oauth-authorization-server")
async def get_authorization_server_metadata(response: Response) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414)."""
    issuer = get_settings().issuer
    response.headers["Cache-Control"] = "public, max-age=3600"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": list(SCOPES),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "authorization_response_iss_parameter_supported": True,
    }
