"""Keel's OAuth 2.1 authorization server, built on Authlib's server core.

Authlib's grants are synchronous; they run inside `AsyncSession.run_sync`, so every lookup and write
they make goes through the request's own transaction (the unit of work), under row-level security.
What Authlib lacks is added here and tested: PKCE is mandatory and S256 only, authorization codes
are redeemed atomically and a second redemption revokes what the first issued, refresh tokens rotate
on every use and the reuse of a rotated one revokes its whole family, and tokens can be DPoP-bound; so
can codes, when the authorization request names a key (`dpop_jkt`, RFC 9449 section 10).

Codes and refresh tokens are random and name no one (ADR 0015): the organisation holding one is found
by its hash through a definer function, and the row is then read under that tenant's policy.

One `KeelAuthorizationServer` is built per request: it carries that request's context (database
session, signing key, DPoP key, and the side effects to finish after Authlib returns).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter

from keel.identity import opaque, repository
from keel.identity.dpop import is_jwk_thumbprint
from keel.identity.oauth_objects import (
    ApiKeyClient,
    Client,
    Grantee,
    OAuthResponse,
    RequestContext,
    ResourceOwner,
    RevocableFamily,
    StoredCode,
    StoredRefreshToken,
)
from keel.identity.tokens import (
    ACCESS_TOKEN_SECONDS,
    AccessToken,
    InvalidAccessToken,
    issue_access_token,
    validate_access_token,
)
from keel.models import AuthorizationCode, RefreshToken

CODE_SECONDS = 60
SCOPES = ("api", "offline_access")  # no ID tokens are issued, so no "openid"


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _enter_tenant_of(ctx: RequestContext, kind: str, value_hash: bytes) -> bool:
    """Enter the organisation that holds this code or refresh token; False when none does."""
    org_id = repository.organization_holding_credential(ctx.db, kind, value_hash)
    if org_id is None:
        return False
    ctx.enter(org_id)
    return True


class S256Only(CodeChallenge):
    """PKCE for every client, S256 only: no `plain`, no missing challenge."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: StoredCode) -> str:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: StoredCode) -> str:
        return authorization_code.row.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    server: KeelAuthorizationServer

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        # At most one; blank counts as absent (RFC 6749 section 3.1), anything else must be a thumbprint.
        jkt = self.request.payload.datalist.get("dpop_jkt", [])
        if len(jkt) > 1 or (jkt and jkt[0] and not is_jwk_thumbprint(jkt[0])):
            raise InvalidRequestError(
                "'dpop_jkt' must be one base64url SHA-256 JWK thumbprint (43 characters).",
                redirect_uri=redirect_uri,
            )
        return redirect_uri

    def generate_authorization_code(self) -> str:
        code, _ = opaque.new_bearer_secret()
        return code

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        ctx = self.server.ctx
        grantee: ResourceOwner = request.user
        data = request.payload.data
        ctx.db.add(
            AuthorizationCode(
                org_id=grantee.org_id,
                code_hash=opaque.digest(code),
                client_id=request.client.get_client_id(),
                user_id=grantee.user_id,
                redirect_uri=data.get("redirect_uri") or request.client.get_default_redirect_uri(),
                scope=request.scope or "",
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                nonce=data.get("nonce"),
                dpop_jkt=data.get("dpop_jkt") or None,
                auth_time=grantee.auth_time,
                expires_at=ctx.now + timedelta(seconds=CODE_SECONDS),
            )
        )
        ctx.db.flush()

    def query_authorization_code(self, code: str, client: Client) -> StoredCode | None:
        """Redeem the code: exactly one caller wins; a later one revokes what the winner got."""
        ctx = self.server.ctx
        code_hash = opaque.bearer_digest(code)
        if code_hash is None or not _enter_tenant_of(ctx, "code", code_hash):
            return None
        # A code bound to a DPoP key is redeemed only with a proof by that key, and a refused attempt
        # does not spend it: whoever intercepted it cannot take it from its rightful holder either.
        row = repository.redeem_authorization_code(
            ctx.db, code_hash, client.get_client_id(), ctx.dpop_jkt, ctx.now
        )
        if row is not None:
            return StoredCode(row)
        stored = repository.authorization_code_by_hash(ctx.db, code_hash)
        if stored is None:
            return None
        if stored.redeemed_at is not None:
            if stored.family_id is not None:
                ctx.revoke_family(stored.family_id, "token.code_reuse_detected")
            return None
        live = stored.expires_at > ctx.now and stored.client_id == client.get_client_id()
        if live and stored.dpop_jkt is not None:
            raise InvalidGrantError("The code is bound to a DPoP key: send a DPoP proof signed by that key.")
        return None

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Kept (already marked redeemed) so that a replay can be recognised and answered."""

    def authenticate_user(self, authorization_code: StoredCode) -> Grantee | None:
        code = authorization_code.row
        ctx = self.server.ctx
        family_started = ctx.now
        # The organisation may keep sign-ins shorter than the platform allows, never longer.
        settings = repository.organization_settings(ctx.db, code.org_id) or {}
        days = min(int(settings.get("refresh_token_days") or ctx.refresh_days), ctx.refresh_days)
        return self.server.grantee(
            code.user_id,
            family_id=uuid.uuid4(),
            family_started_at=family_started,
            family_expires_at=family_started + timedelta(days=days),
            auth_time=code.auth_time,
        )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: KeelAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> StoredRefreshToken | None:
        ctx = self.server.ctx
        token_hash = opaque.bearer_digest(refresh_token)
        if token_hash is None or not _enter_tenant_of(ctx, "refresh_token", token_hash):
            return None
        # Row lock: two refreshes with one token run one after the other; the second is a reuse.
        row = repository.refresh_token_by_hash(ctx.db, token_hash, for_update=True)
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            ctx.revoke_family(row.family_id, "token.refresh_reuse_detected")
            return None
        if row.expires_at <= ctx.now:
            return None
        if row.dpop_jkt is not None and row.dpop_jkt != ctx.dpop_jkt:
            return None  # bound to a key this request does not prove
        return StoredRefreshToken(row)

    def authenticate_user(self, refresh_token: StoredRefreshToken) -> Grantee | None:
        row = refresh_token.row
        return self.server.grantee(
            row.user_id,
            family_id=row.family_id,
            family_started_at=row.family_started_at,
            family_expires_at=row.expires_at,
            auth_time=row.family_started_at,
        )

    def revoke_old_credential(self, refresh_token: StoredRefreshToken) -> None:
        refresh_token.row.rotated_at = self.server.ctx.now
        self.server.ctx.db.flush()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking a refresh token or an access token ends the whole family it belongs to."""

    CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
    server: KeelAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> RevocableFamily | None:
        ctx = self.server.ctx
        token_hash = opaque.bearer_digest(token_string)
        if token_hash is not None:  # access tokens are far longer than any refresh token
            if not _enter_tenant_of(ctx, "refresh_token", token_hash):
                return None
            row = repository.refresh_token_by_hash(ctx.db, token_hash)
            return RevocableFamily(row.org_id, row.family_id, row.client_id) if row is not None else None
        if ctx.verification_keys is None:
            return None
        try:
            claims = validate_access_token(
                token_string, keys=ctx.verification_keys, issuer=ctx.issuer, audience=ctx.audience
            )
            family = RevocableFamily(UUID(claims["org_id"]), UUID(claims["sid"]), claims["client_id"])
        except (InvalidAccessToken, KeyError, ValueError):
            return None
        ctx.enter(family.org_id)
        return family

    def revoke_token(self, token: RevocableFamily, request: OAuth2Request) -> None:
        if token.check_client(request.client):
            self.server.ctx.revoke_family(token.family_id, "token.revoked")


class Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class KeelAuthorizationServer(AuthorizationServer):
    def __init__(self, ctx: RequestContext) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.ctx = ctx
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation)
        self.register_extension(Issuer(ctx.issuer))
        self.register_token_generator("default", self.issue_tokens)

    # Authlib's framework hooks -------------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | ApiKeyClient | None:
        if not client_id or len(client_id) > 64:
            return None
        if _is_uuid(client_id):
            return self._api_key_client(client_id)
        row = repository.enabled_client(self.ctx.db, client_id)
        return Client(row) if row is not None else None

    def _api_key_client(self, client_id: str) -> ApiKeyClient | None:
        """Found by the digest of the presented secret (the tenant is not known before)."""
        secret = self.ctx.presented_secret
        if not secret:
            return None
        secret_hash = opaque.digest(secret)
        row = repository.live_api_key(self.ctx.db, secret_hash)
        if row is None or str(row.key_id) != client_id:
            return None
        self.ctx.enter(row.org_id)
        return ApiKeyClient(row.key_id, row.org_id, secret_hash)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        refresh = token.get("refresh_token")
        grantee: Grantee | None = request.user
        ctx = self.ctx
        if grantee is None:  # client credentials: a self-contained access token, nothing to keep
            return
        if request.authorization_code is not None:
            request.authorization_code.row.family_id = grantee.family_id
        if refresh:
            ctx.db.add(
                RefreshToken(
                    org_id=grantee.org_id,
                    family_id=grantee.family_id,
                    token_hash=opaque.digest(refresh),
                    client_id=request.client.get_client_id(),
                    user_id=grantee.user_id,
                    scope=token.get("scope", ""),
                    dpop_jkt=ctx.dpop_jkt,
                    family_started_at=grantee.family_started_at,
                    expires_at=grantee.family_expires_at,
                )
            )
        ctx.db.flush()

    # Keel's pieces -------------------------------------------------------------------------------
    def grantee(
        self,
        user_id: UUID,
        *,
        family_id: UUID,
        family_started_at: datetime,
        family_expires_at: datetime,
        auth_time: datetime,
    ) -> Grantee | None:
        """The user as they stand now: enabled, tokens not cut off, still a member (with their role)."""
        ctx = self.ctx
        assert ctx.org_id is not None
        ctx.enter(ctx.org_id, user_id)
        user = repository.user_for_grant(ctx.db, user_id)
        if user is None or user.disabled_at is not None or user.tokens_valid_after > family_started_at:
            return None
        role = repository.role_for_grant(ctx.db, user_id)
        if role is None:
            return None
        return Grantee(
            user_id=user_id,
            org_id=ctx.org_id,
            role=role,
            family_id=family_id,
            family_started_at=family_started_at,
            family_expires_at=family_expires_at,
            auth_time=auth_time,
        )

    def issue_tokens(
        self,
        grant_type: str,
        client: Client | ApiKeyClient,
        user: Grantee | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        ctx = self.ctx
        signing_key = ctx.signing_key
        assert signing_key is not None
        if isinstance(client, ApiKeyClient):  # client credentials: the key acts for its organisation
            subject = AccessToken(
                subject=client.get_client_id(),
                client_id=client.get_client_id(),
                org_id=str(client.org_id),
                scope="api",
                confirmation_jkt=ctx.dpop_jkt,
                extra={"principal": "api_key"},
            )
        else:
            assert user is not None
            subject = AccessToken(
                subject=str(user.user_id),
                client_id=client.get_client_id(),
                org_id=str(user.org_id),
                roles=(user.role,),
                scope=scope or "",
                confirmation_jkt=ctx.dpop_jkt,
                extra={"sid": str(user.family_id), "auth_time": int(user.auth_time.timestamp())},
            )
        access = issue_access_token(
            subject,
            signing_key=signing_key,
            issuer=ctx.issuer,
            audience=ctx.audience,
        )
        token: dict[str, Any] = {
            "access_token": access,
            "token_type": "DPoP" if ctx.dpop_jkt else "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": scope or "",
        }
        if include_refresh_token and user is not None:
            token["refresh_token"], _ = opaque.new_bearer_secret()
        return token
