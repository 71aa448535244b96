"""Whatever a client or browser sends to the authorization server, it gets a 4xx or a page, never a 500."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Org
from tests.identity.conftest import MakeUser, csrf_of, sign_in

FIELDS = [
    "grant_type",
    "code",
    "refresh_token",
    "client_id",
    "client_secret",
    "redirect_uri",
    "code_verifier",
    "token",
    "token_type_hint",
    "scope",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "email",
    "password",
    "csrf",
    "next",
    "org_id",
    "decision",
    "name",
]
VALUES = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "test-web",
            "S256",
            "plain",
            "code",
            "\x00",
            "00000000-0000-0000-0000-000000000000",
            "a" * 32 + "." + "b" * 43,
            "https://app.test/callback",
            "x" * 5000,
        ]
    ),
)
FORMS = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=8)
PATHS = [
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
    ("GET", "/oauth/authorize"),
    ("POST", "/oauth/authorize"),
    ("POST", "/login"),
    ("POST", "/login/mfa"),
    ("GET", "/invitations/accept"),
    ("POST", "/invitations/accept"),
    ("POST", "/password/forgot"),
    ("GET", "/password/reset"),
    ("POST", "/password/reset"),
    ("POST", "/account/mfa"),
    ("POST", "/account/email"),
    ("GET", "/account/email/verify"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), form=FORMS, with_csrf=st.booleans())
async def test_no_input_makes_the_authorization_server_fail(
    client: httpx.AsyncClient,
    authorization_server: None,
    path: tuple[str, str],
    form: dict[str, str],
    with_csrf: bool,
) -> None:
    method, url = path
    if with_csrf:
        form = {**form, "csrf": csrf_of(await client.get("/login"))}
    if method == "GET":
        answer = await client.get(url, params=form)
    else:
        answer = await client.post(url, data=form)
    assert answer.status_code < 500, (method, url, form, answer.text[:300])


async def test_signed_in_forms_survive_junk_too(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    await sign_in(client, await make_user(org_a))
    token = csrf_of(await client.get("/login"))
    for url in (
        "/account/password",
        "/account/email",
        "/account/mfa",
        "/account/mfa/backup-codes",
        "/logout",
    ):
        for junk in ({"csrf": token, "password": "\x00" * 20}, {"csrf": token, "email": "a@b.c\x00"}, {}):
            answer = await client.post(url, data=junk)
            assert answer.status_code < 500, (url, junk, answer.text[:300])
