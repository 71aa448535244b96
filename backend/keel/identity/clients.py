"""The client registry: applications that obtain tokens from Keel. Registered on the platform path."""

from __future__ import annotations

import secrets

from keel.core.errors import Problem
from keel.core.platform import PlatformUnitOfWork
from keel.identity import opaque, repository
from keel.models import OAuthClient

WEB_APP_CLIENT_ID = "keel-web"
ALLOWED_REDIRECT_PREFIXES = ("https://", "http://127.0.0.1:", "http://localhost:")


async def register_client(
    uow: PlatformUnitOfWork,
    client_id: str,
    name: str,
    redirect_uris: list[str],
    *,
    first_party: bool = False,
    confidential: bool = False,
) -> str | None:
    """Register a client; returns its secret (shown once) when it is confidential."""
    if await repository.client_by_id(uow.session, client_id) is not None:
        raise Problem(409, f"A client named {client_id!r} is already registered.")
    if not redirect_uris or any(
        not uri.startswith(("https://", "http://127.0.0.1", "http://localhost")) for uri in redirect_uris
    ):
        raise Problem(422, "Redirect URIs must be https (or http on loopback, for development).")
    secret = f"keel_cs_{secrets.token_urlsafe(32)}" if confidential else None
    uow.session.add(
        OAuthClient(
            client_id=client_id,
            name=name,
            redirect_uris=redirect_uris,
            first_party=first_party,
            secret_hash=opaque.digest(secret) if secret else None,
        )
    )
    uow.record_platform_action(
        "oauth_client.registered",
        detail={"client_id": client_id, "redirect_uris": redirect_uris, "first_party": first_party},
    )
    await uow.session.flush()
    return secret
