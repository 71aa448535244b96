"""Authorization code + PKCE: the happy path, and every way a request or a code must be refused."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.conftest import PUBLIC_URL, DatabaseUnderTest, MakeOrg, Org
from tests.identity.conftest import (
    PARTNER_REDIRECT,
    REDIRECT,
    THIRD_PARTY,
    WEB_CLIENT,
    MakeUser,
    authorization,
    authorization_code,
    bearer,
    csrf_of,
    join,
    query_of,
    redeem,
    sign_in,
    tokens_for,
)

ORGANIZATION = "/api/v1/organization"


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


async def test_code_flow_issues_tokens_that_open_the_api_for_the_users_organisation(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a, "manager")
    request = authorization()
    code = await authorization_code(client, user, request)

    answer = await redeem(client, code, request)

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 600
    assert body["refresh_token"] and body["access_token"].count(".") == 2
    claims = claims_of(body["access_token"])
    assert claims["sub"] == str(user.id) and claims["org_id"] == str(org_a.id)
    assert claims["roles"] == ["manager"] and claims["client_id"] == WEB_CLIENT
    assert claims["iss"] == PUBLIC_URL and claims["aud"] == PUBLIC_URL + "/api"
    me = await client.get(ORGANIZATION, headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == str(org_a.id)


async def test_signing_in_answers_303_and_sets_host_prefixed_secure_cookies(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    answer = await sign_in(client, user)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-keel_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "domain=" not in cookie.lower()


async def test_login_page_carries_csp_with_nonce_and_cannot_be_framed(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "'nonce-" in csp and "unsafe-inline" not in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in page.text
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "max-age=" in page.headers["strict-transport-security"]
    assert (await client.get("/login")).headers["content-security-policy"] != csp


async def test_login_without_csrf_token_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    await client.get("/login")
    answer = await client.post("/login", data={"email": user.email, "password": user.password})
    assert answer.status_code == 403 and "__Host-keel_session" not in answer.headers.get("set-cookie", "")
    forged = await client.post(
        "/login", data={"email": user.email, "password": user.password, "csrf": "0" * 64}
    )
    assert forged.status_code == 403


async def test_wrong_password_and_unknown_account_get_the_same_answer(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    page = await client.get("/login")
    token = csrf_of(page)
    wrong = await client.post(
        "/login", data={"csrf": token, "email": user.email, "password": "nope nope nope"}
    )
    unknown = await client.post(
        "/login", data={"csrf": token, "email": "nobody@example.com", "password": "nope nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 400
    strip = lambda r: r.text.replace(user.email, "").replace("nobody@example.com", "")  # noqa: E731
    assert strip(wrong).split("<main>")[1] == strip(unknown).split("<main>")[1]


async def test_next_after_sign_in_never_leaves_keel(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    for target in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "javascript:alert(1)"):
        answer = await sign_in(client, user, next_page=target)
        assert answer.headers["location"] == "/account", target


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"code_challenge": "", "code_challenge_method": ""}, "PKCE is required"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": ""}, "S256"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "api admin"}, "invalid_scope"),
    ],
)
async def test_bad_authorization_requests_redirect_back_with_an_error_and_iss(
    client: httpx.AsyncClient, authorization_server: None, change: dict[str, str], reason: str
) -> None:
    request = authorization(**change)
    answer = await client.get(request.url)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["state"] == request.state and query["iss"] == PUBLIC_URL
    assert reason in query["error"] + " " + query.get("error_description", "")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.test/callback",
        REDIRECT + "/",  # exact string match: no prefix
        REDIRECT + "?x=1",
        REDIRECT.upper(),
        "",  # several registered URIs would make this ambiguous; one registered: the default
    ],
)
async def test_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
    client: httpx.AsyncClient, authorization_server: None, redirect_uri: str
) -> None:
    request = authorization(redirect_uri=redirect_uri)
    answer = await client.get(request.url)
    if redirect_uri == "":
        assert answer.status_code in (302, 303)  # the single registered URI is used
        return
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "text/html" in answer.headers["content-type"]


async def test_unknown_client_gets_an_error_page(
    client: httpx.AsyncClient, authorization_server: None
) -> None:
    answer = await client.get(authorization(client_id="nobody").url)
    assert answer.status_code == 400 and "location" not in answer.headers


async def test_implicit_and_password_grants_do_not_exist(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    password_grant = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": user.email,
            "password": user.password,
            "client_id": WEB_CLIENT,
        },
    )
    assert password_grant.status_code == 400 and password_grant.json()["error"] == "unsupported_grant_type"
    implicit = await client.get(authorization(response_type="token").url)
    assert query_of(implicit.headers["location"])["error"] == "unsupported_response_type"


async def test_code_works_once_and_its_replay_revokes_what_it_issued(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    first = (await redeem(client, code, request)).json()

    replay = await redeem(client, code, request)

    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    api = await client.get(ORGANIZATION, headers=bearer(first["access_token"]))
    assert api.status_code == 401
    again = await client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": WEB_CLIENT,
        },
    )
    assert again.status_code == 400


async def test_parallel_redemptions_of_one_code_give_exactly_one_success(
    app, org_a: Org, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(org_a)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as browser:
        request = authorization()
        code = await authorization_code(browser, user, request)

        async def attempt() -> int:
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
                return (await redeem(client, code, request)).status_code

        results = await asyncio.gather(*(attempt() for _ in range(8)))
    assert sorted(results) == [200] + [400] * 7


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"code_verifier": "x" * 50}, "wrong verifier"),
        ({"code_verifier": ""}, "missing verifier"),
        ({"redirect_uri": "https://app.test/other"}, "different redirect URI"),
        ({"redirect_uri": ""}, "missing redirect URI"),
        ({"client_id": THIRD_PARTY}, "another client"),
    ],
)
async def test_code_is_bound_to_client_redirect_uri_and_pkce_challenge(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, override: dict[str, str], why: str
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    answer = await redeem(client, code, request, **override)
    assert answer.status_code in (400, 401), why
    assert "access_token" not in answer.text, why


async def test_code_expires_after_sixty_seconds(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        lifetime = conn.execute("SELECT expires_at - created_at FROM keel.authorization_codes").fetchone()
        assert lifetime is not None and lifetime[0] <= timedelta(seconds=60)
        conn.execute("UPDATE keel.authorization_codes SET expires_at = now() - interval '1 second'")
    answer = await redeem(client, code, request)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


async def test_forged_or_garbled_codes_are_refused(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    # Naming another organisation in front (the shape codes had before ADR 0015) finds nothing.
    moved = f"{org_b.id.hex}.{code}"
    for bad in (moved, "garbage", code + "x", code[:-1], "." * 80, "0" * 32 + "." + "a" * 43):
        answer = await redeem(client, bad, request)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", bad
    assert (await redeem(client, code, request)).status_code == 200


async def test_third_party_client_needs_consent_and_deny_returns_access_denied(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    request = authorization(client_id=THIRD_PARTY, redirect_uri=PARTNER_REDIRECT)
    await sign_in(client, user, next_page=request.url)
    page = await client.get(request.url)
    assert page.status_code == 200 and "Allow Partner" in page.text
    assert "form-action 'self' https://partner.test" in page.headers["content-security-policy"]
    denied = await client.post(
        "/oauth/authorize",
        data={**request.params, "csrf": csrf_of(page), "org_id": str(org_a.id), "decision": "deny"},
    )
    assert denied.status_code == 303
    assert query_of(denied.headers["location"])["error"] == "access_denied"
    allowed = await client.post(
        "/oauth/authorize",
        data={**request.params, "csrf": csrf_of(page), "org_id": str(org_a.id), "decision": "allow"},
    )
    assert allowed.status_code == 303 and "code" in query_of(allowed.headers["location"])


async def test_consent_without_csrf_token_issues_nothing(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    request = authorization(client_id=THIRD_PARTY, redirect_uri=PARTNER_REDIRECT)
    await sign_in(client, user, next_page=request.url)
    answer = await client.post(
        "/oauth/authorize", data={**request.params, "org_id": str(org_a.id), "decision": "allow"}
    )
    assert answer.status_code == 403 and "location" not in answer.headers


async def test_member_of_two_organisations_picks_one_and_the_token_is_for_it(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser
) -> None:
    first, second = await make_org("First"), await make_org("Second")
    user = await make_user(first, "sales_rep")
    await join(second, user, "finance")
    request = authorization()
    await sign_in(client, user, next_page=request.url)
    picker = await client.get(request.url)
    assert picker.status_code == 200 and "First" in picker.text and "Second" in picker.text
    chosen = await client.post(
        "/oauth/authorize", data={**request.params, "csrf": csrf_of(picker), "org_id": str(second.id)}
    )
    assert chosen.status_code == 303
    code = query_of(chosen.headers["location"])["code"]
    claims = claims_of((await redeem(client, code, request)).json()["access_token"])
    assert claims["org_id"] == str(second.id) and claims["roles"] == ["finance"]


async def test_picking_an_organisation_one_is_not_a_member_of_shows_the_picker_again(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser
) -> None:
    first, second, foreign = await make_org("First"), await make_org("Second"), await make_org("Foreign")
    user = await make_user(first)
    await join(second, user)
    request = authorization()
    await sign_in(client, user, next_page=request.url)
    picker = await client.get(request.url)
    answer = await client.post(
        "/oauth/authorize", data={**request.params, "csrf": csrf_of(picker), "org_id": str(foreign.id)}
    )
    assert answer.status_code == 200 and "Choose an organisation" in answer.text


async def test_tokens_of_one_organisation_never_read_another(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    me = await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))
    assert me.json()["id"] == str(org_a.id) != str(org_b.id)


async def test_access_token_lifetime_is_at_most_ten_minutes(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    claims = claims_of((await tokens_for(client, user))["access_token"])
    assert int(claims["exp"]) - int(claims["iat"]) <= 600  # type: ignore[call-overload]
    assert datetime.fromtimestamp(int(claims["exp"]), UTC) > datetime.now(UTC)  # type: ignore[call-overload]
