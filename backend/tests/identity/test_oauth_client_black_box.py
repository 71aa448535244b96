"""A real OAuth client (Authlib's, over httpx) runs the whole flow against Keel."""

from __future__ import annotations

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.conftest import PUBLIC_URL, Org
from tests.identity.conftest import REDIRECT, WEB_CLIENT, MakeUser, sign_in


async def test_authlib_client_authorizes_refreshes_rotates_and_revokes(
    app, org_a: Org, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(org_a, "support")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as discovery:
        metadata = (await discovery.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == PUBLIC_URL and metadata["code_challenge_methods_supported"] == ["S256"]

    async with AsyncOAuth2Client(
        client_id=WEB_CLIENT,
        redirect_uri=REDIRECT,
        scope="api",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        transport=transport,
        base_url=PUBLIC_URL,
    ) as oauth:
        verifier = generate_token(64)
        url, state = oauth.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier
        )

        # The user's browser: signs in and approves; the client only sees the redirect back.
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as browser:
            await sign_in(browser, user, next_page=url.removeprefix(PUBLIC_URL))
            redirected = await browser.get(url)
        assert redirected.status_code == 302
        callback = redirected.headers["location"]
        assert f"iss={PUBLIC_URL.replace(':', '%3A').replace('/', '%2F')}" in callback

        token = await oauth.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
        )
        assert token["token_type"] == "Bearer" and token["refresh_token"]
        assert (await oauth.get("/api/v1/organization")).json()["id"] == str(org_a.id)

        first_refresh = token["refresh_token"]
        renewed = await oauth.refresh_token(metadata["token_endpoint"])
        assert renewed["refresh_token"] != first_refresh
        assert (await oauth.get("/api/v1/organization")).status_code == 200

        revoked = await oauth.revoke_token(
            metadata["revocation_endpoint"], token=renewed["refresh_token"], token_type_hint="refresh_token"
        )
        assert revoked.status_code == 200
        assert (await oauth.get("/api/v1/organization")).status_code == 401
        with pytest.raises(OAuthError, match="invalid_grant"):
            await oauth.refresh_token(metadata["token_endpoint"], refresh_token=renewed["refresh_token"])
