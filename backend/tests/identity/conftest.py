"""Users, clients and a browser that signs in, for the authorization server's tests."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

import httpx
import pyotp
import pytest

from keel.core import db as core_db
from keel.core.keyring import get_key_ring
from keel.core.platform import platform_unit_of_work
from keel.core.uow import job_unit_of_work
from keel.identity import mfa
from keel.identity.clients import register_client
from keel.identity.signing_keys import rotate_signing_key
from keel.identity.users import add_membership, create_user
from tests.conftest import PUBLIC_URL, Org

WEB_CLIENT = "test-web"
THIRD_PARTY = "partner-app"
REDIRECT = "https://app.test/callback"
PARTNER_REDIRECT = "https://partner.test/cb"
PASSWORD = "correct horse battery staple 42"
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
async def authorization_server(app) -> None:  # type: ignore[no-untyped-def]
    """A signing key, the first-party web client and a third-party client needing consent."""
    async with platform_unit_of_work("tests") as uow:
        await rotate_signing_key(uow, get_key_ring())
    async with platform_unit_of_work("tests") as uow:
        await register_client(uow, WEB_CLIENT, "Web", [REDIRECT], first_party=True)
    async with platform_unit_of_work("tests") as uow:
        await register_client(uow, THIRD_PARTY, "Partner", [PARTNER_REDIRECT])


@dataclass
class Person:
    id: UUID
    email: str
    password: str
    totp_secret: str | None = None

    def totp(self, at: datetime | None = None) -> str:
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).at(at or datetime.now(UTC))


MakeUser = Callable[..., Awaitable[Person]]


@pytest.fixture
def make_user(authorization_server: None) -> MakeUser:
    async def make(
        org: Org, role: str = "sales_rep", *, email: str | None = None, with_mfa: bool = False
    ) -> Person:
        email = email or f"u{secrets.token_hex(4)}@example.com"
        secret = None
        async with job_unit_of_work(core_db.runtime_database(), org.id) as uow:
            user = await create_user(uow, email, PASSWORD, name="Test User", verified=True)
            await add_membership(uow, user.id, role)
            if with_mfa:
                secret = mfa.start_enrolment(email).secret
                user.totp_secret_encrypted = get_key_ring().encrypt(secret.encode())
                user.totp_enrolled_at = datetime.now(UTC)
        return Person(user.id, email, PASSWORD, secret)

    return make


async def join(org: Org, user: Person, role: str = "manager") -> None:
    async with job_unit_of_work(core_db.runtime_database(), org.id) as uow:
        await add_membership(uow, user.id, role)


def csrf_of(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, user: Person, *, next_page: str = "/account") -> httpx.Response:
    page = await http.get("/login", params={"next": next_page})
    answer = await http.post(
        "/login",
        data={"csrf": csrf_of(page), "email": user.email, "password": user.password, "next": next_page},
    )
    if answer.status_code == 303 and answer.headers["location"].startswith("/login/mfa"):
        page = await http.get(answer.headers["location"])
        answer = await http.post(
            "/login/mfa", data={"csrf": csrf_of(page), "code": user.totp(), "next": next_page}
        )
    return answer


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Authorization:
    verifier: str
    state: str
    params: dict[str, str]

    @property
    def url(self) -> str:
        return "/oauth/authorize?" + urlencode(self.params)


def authorization(client_id: str = WEB_CLIENT, redirect_uri: str = REDIRECT, **extra: str) -> Authorization:
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "api",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return Authorization(verifier, state, {k: v for k, v in params.items() if v != ""})


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorization_code(http: httpx.AsyncClient, user: Person, request: Authorization) -> str:
    """Sign in (if needed) and approve; returns the code the client receives."""
    answer = await http.get(request.url)
    if answer.status_code == 303 and answer.headers["location"].startswith("/login"):
        await sign_in(http, user, next_page=request.url)
        answer = await http.get(request.url)
    assert answer.status_code == 302, answer.text[:500]
    location = answer.headers["location"]
    assert location.startswith(request.params["redirect_uri"] + "?"), location
    query = query_of(location)
    assert query["state"] == request.state
    assert query["iss"] == PUBLIC_URL
    return query["code"]


async def redeem(
    http: httpx.AsyncClient,
    code: str,
    request: Authorization,
    *,
    headers: dict[str, str] | None = None,
    **overrides: str,
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.params["redirect_uri"],
        "client_id": request.params["client_id"],
        "code_verifier": request.verifier,
        **overrides,
    }
    return await http.post("/oauth/token", data={k: v for k, v in form.items() if v != ""}, headers=headers)


async def refresh(http: httpx.AsyncClient, refresh_token: str, client_id: str = WEB_CLIENT) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
    )


async def tokens_for(http: httpx.AsyncClient, user: Person) -> dict[str, str]:
    request = authorization()
    code = await authorization_code(http, user, request)
    answer = await redeem(http, code, request)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
