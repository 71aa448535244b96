"""What Authlib's server works with: clients, stored codes and tokens, the per-request context, and
the request and response wrappers that stand in for a web framework's."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from joserfc.jwk import ECKey, KeySet
from sqlalchemy.orm import Session

from keel.identity import opaque, repository
from keel.models import AuthorizationCode, OAuthClient, RefreshToken


def set_context(session: Session, org_id: UUID | None, user_id: UUID | None) -> None:
    repository.bind_transaction(session, org_id, user_id)


class Client(ClientMixin):
    """A registered client, as Authlib asks about it."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    @property
    def is_public(self) -> bool:
        return self.row.secret_hash is None

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OAuth 2.1: the request must name its redirect URI unless exactly one is registered.
        return self.row.redirect_uris[0] if len(self.row.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact string match, no patterns

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.secret_hash
        return stored is not None and hmac.compare_digest(stored, opaque.digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class ApiKeyClient(ClientMixin):
    """An organisation's API key acting as a confidential client (ADR 0005): its id is the
    `client_id`, the key itself the secret. Client credentials only; tokens act for the organisation."""

    def __init__(self, key_id: UUID, org_id: UUID, secret_hash: bytes) -> None:
        self.key_id, self.org_id, self.secret_hash = key_id, org_id, secret_hash

    def get_client_id(self) -> str:
        return str(self.key_id)

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return "api"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, opaque.digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass(frozen=True)
class ResourceOwner:
    """Who approved an authorization request, for which organisation, signed in when."""

    user_id: UUID
    org_id: UUID
    auth_time: datetime


@dataclass
class Grantee:
    """The user a grant is for, in the organisation they chose, and the token family it belongs to."""

    user_id: UUID
    org_id: UUID
    role: str
    family_id: UUID
    family_started_at: datetime
    family_expires_at: datetime
    auth_time: datetime


@dataclass
class StoredCode:
    row: AuthorizationCode

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class StoredRefreshToken:
    row: RefreshToken

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class SecurityEvent:
    org_id: UUID
    action: str
    entity_type: str
    entity_id: str
    detail: dict[str, Any]


@dataclass
class RequestContext:
    """What one token or authorization request needs, and what it leaves to do afterwards."""

    issuer: str
    audience: str
    refresh_days: int
    signing_key: ECKey | None = None  # only the token endpoint signs
    verification_keys: KeySet | None = None  # only revocation reads access tokens
    dpop_jkt: str | None = None
    presented_secret: str | None = None  # the client secret in the request, to find an API-key client
    session: Session | None = None  # set by `run`, inside the request's transaction
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    events: list[SecurityEvent] = field(default_factory=list)
    revoked_families: list[UUID] = field(default_factory=list)
    org_id: UUID | None = None
    user_id: UUID | None = None
    # Reuse detection writes must survive the error answer that follows.
    commit_despite_error: bool = False

    @property
    def db(self) -> Session:
        assert self.session is not None, "call through run()"
        return self.session

    def enter(self, org_id: UUID, user_id: UUID | None = None) -> None:
        set_context(self.db, org_id, user_id)
        self.org_id, self.user_id = org_id, user_id

    def revoke_family(self, family_id: UUID, reason: str) -> None:
        repository.revoke_token_family(self.db, family_id, self.now)
        self.revoked_families.append(family_id)
        assert self.org_id is not None
        self.events.append(
            SecurityEvent(self.org_id, reason, "token_family", str(family_id), {"family_id": str(family_id)})
        )
        self.commit_despite_error = True


@dataclass
class OAuthResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


class FormPayload(OAuth2Payload):
    def __init__(self, values: dict[str, list[str]]) -> None:
        self._datalist = values
        self._data = {k: v[0] for k, v in values.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class KeelRequest(OAuth2Request):
    """An OAuth request whose URL is Keel's public URL, not what a proxy said the host was."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], values: dict[str, list[str]]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = FormPayload(values)
        self._form = self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return self._form

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class RevocableFamily:
    org_id: UUID
    family_id: UUID
    client_id: str

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.get_client_id()
