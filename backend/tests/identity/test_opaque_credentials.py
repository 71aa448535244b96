"""Codes and refresh tokens name no one (ADR 0015): nothing in them tells the organisation or the user,
a changed or forged one finds nothing, and a code reaches only the organisation it was issued for."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from uuid import UUID

import httpx
import psycopg
import pytest

from tests.conftest import MakeOrg, Org
from tests.identity.conftest import (
    WEB_CLIENT,
    MakeUser,
    Person,
    authorization,
    authorization_code,
    bearer,
    csrf_of,
    join,
    query_of,
    redeem,
    refresh,
    sign_in,
    tokens_for,
)
from tests.identity.test_authorization_code import claims_of

ORGANIZATION = "/api/v1/organization"
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
BASE64URL_43 = re.compile(r"[A-Za-z0-9_-]{43}")


def encodings(value: UUID) -> list[str]:
    """The ways a UUID commonly ends up in a string."""
    raw = value.bytes
    forms = [value.hex, str(value), str(value.int)]
    for encode in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode, base64.b32hexencode):
        padded = encode(raw).decode()
        forms += [padded, padded.rstrip("=")]
    return forms


def assert_names_no_one(value: str, *ids: UUID) -> None:
    for owner in ids:
        for form in encodings(owner):
            assert form.lower() not in value.lower(), (value, form)
        assert owner.bytes not in value.encode()
        if BASE64URL.fullmatch(value):  # nor its raw bytes, or either half, under base64url at any offset
            decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            assert all(part not in decoded for part in (owner.bytes, owner.bytes[:8], owner.bytes[8:]))


def assert_look_random(values: list[str]) -> None:
    """256 random bits each: the shape Keel issues, all different, no character fixed at any position
    (a version tag, a separator, a counter's high digits would be)."""
    assert len(set(values)) == len(values) >= 5
    for value in values:
        assert BASE64URL_43.fullmatch(value), value
        assert len(base64.urlsafe_b64decode(value + "=")) == 32
    for position in range(43):
        assert len({value[position] for value in values}) > 1, position


async def codes_for(http: httpx.AsyncClient, user: Person, count: int) -> tuple[list[str], list[str]]:
    """`count` codes for one signed-in user, and the redirect URLs that carried them."""
    await sign_in(http, user)
    codes, locations = [], []
    for _ in range(count):
        answer = await http.get(authorization().url)
        assert answer.status_code == 302, answer.text[:300]
        locations.append(answer.headers["location"])
        codes.append(query_of(answer.headers["location"])["code"])
    return codes, locations


async def test_codes_and_the_redirects_carrying_them_name_neither_organisation_nor_user(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    codes, locations = await codes_for(client, user, 5)
    assert_look_random(codes)
    for value in codes + locations:
        assert_names_no_one(value, org_a.id, user.id)


async def test_refresh_tokens_name_neither_organisation_nor_user_across_rotations(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = [(await tokens_for(client, user))["refresh_token"]]
    for _ in range(4):
        answer = await refresh(client, tokens[-1])
        assert answer.status_code == 200, answer.text
        tokens.append(answer.json()["refresh_token"])
    assert_look_random(tokens)
    for value in tokens:
        assert_names_no_one(value, org_a.id, user.id)


def _tampered(value: str, org: Org) -> list[str]:
    flip = {"A": "B", "B": "A"}
    changed = [
        value[:i] + (flip.get(value[i]) or "A") + value[i + 1 :]
        for i in (0, 21, 42)  # one character
    ]
    return [
        *changed,
        value[:-1],
        value + "A",
        value.swapcase(),
        f"{org.id.hex}.{value}",  # the earlier shape, naming an organisation
        secrets.token_urlsafe(32),  # well-formed, never issued
    ]


async def test_a_changed_or_forged_code_is_refused_and_the_real_one_still_works(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    for bad in _tampered(code, org_b):
        answer = await redeem(client, bad, request)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", bad
    assert (await redeem(client, code, request)).status_code == 200


async def test_a_changed_or_forged_refresh_token_is_refused_and_the_family_lives_on(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    for bad in _tampered(tokens["refresh_token"], org_b):
        answer = await refresh(client, bad)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", bad
    # Nothing above counted as a reuse: the family and its access token are untouched.
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_a_code_reaches_only_the_organisation_it_was_issued_for(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser
) -> None:
    first, second = await make_org("First"), await make_org("Second")
    user = await make_user(first, "sales_rep")
    await join(second, user, "finance")
    request = authorization()
    await sign_in(client, user, next_page=request.url)
    picker = await client.get(request.url)
    chosen = await client.post(
        "/oauth/authorize", data={**request.params, "csrf": csrf_of(picker), "org_id": str(first.id)}
    )
    code = query_of(chosen.headers["location"])["code"]
    # Naming the other organisation (the earlier shape) does not move the code there.
    moved = await redeem(client, f"{second.id.hex}.{code}", request)
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_grant"
    tokens = (await redeem(client, code, request)).json()
    assert claims_of(tokens["access_token"])["org_id"] == str(first.id)
    assert claims_of(tokens["access_token"])["roles"] == ["sales_rep"]
    renewed = (await refresh(client, tokens["refresh_token"])).json()
    assert claims_of(renewed["access_token"])["org_id"] == str(first.id)
    me = await client.get(ORGANIZATION, headers=bearer(renewed["access_token"]))
    assert me.json()["id"] == str(first.id)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def test_the_lookup_names_only_the_holders_organisation_and_rows_stay_behind_rls(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser, runtime: psycopg.Connection
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    refresh_token = (await tokens_for(client, user))["refresh_token"]
    lookup = "SELECT keel.oauth_credential_org(%s, %s)"
    assert runtime.execute(lookup, ["code", _digest(code)]).fetchone() == (org_a.id,)
    assert runtime.execute(lookup, ["refresh_token", _digest(refresh_token)]).fetchone() == (org_a.id,)
    # Each kind only in its own table; unknown hashes and kinds find nothing.
    assert runtime.execute(lookup, ["refresh_token", _digest(code)]).fetchone() == (None,)
    assert runtime.execute(lookup, ["code", _digest(refresh_token)]).fetchone() == (None,)
    assert runtime.execute(lookup, ["code", _digest(secrets.token_urlsafe(32))]).fetchone() == (None,)
    assert runtime.execute(lookup, ["other", _digest(code)]).fetchone() == (None,)
    # The rows themselves are still read under the tenant policy: another organisation sees none.
    runtime.execute("SELECT set_config('app.org_id', %s, false)", [str(org_b.id)])
    for table, column, value in (
        ("authorization_codes", "code_hash", code),
        ("refresh_tokens", "token_hash", refresh_token),
    ):
        found = runtime.execute(f"SELECT count(*) FROM keel.{table} WHERE {column} = %s", [_digest(value)])
        assert found.fetchone() == (0,), table
    runtime.execute("SELECT set_config('app.org_id', %s, false)", [str(org_a.id)])
    found = runtime.execute(
        "SELECT count(*) FROM keel.authorization_codes WHERE code_hash = %s", [_digest(code)]
    )
    assert found.fetchone() == (1,)


async def test_codes_and_refresh_tokens_of_the_earlier_shape_work_until_they_expire(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    """Values issued before ADR 0015 (`<org hex>.<secret>`) are found by their hash like any other."""
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    old_code = f"{org_a.id.hex}.{secrets.token_urlsafe(32)}"
    admin.execute(
        "UPDATE keel.authorization_codes SET code_hash = %s WHERE code_hash = %s",
        [_digest(old_code), _digest(code)],
    )
    tokens = (await redeem(client, old_code, request)).json()
    old_refresh = f"{org_a.id.hex}.{secrets.token_urlsafe(32)}"
    admin.execute(
        "UPDATE keel.refresh_tokens SET token_hash = %s WHERE token_hash = %s",
        [_digest(old_refresh), _digest(tokens["refresh_token"])],
    )
    renewed = await refresh(client, old_refresh)
    assert renewed.status_code == 200, renewed.text
    # Rotation hands out the new shape; the old value is now a rotated token like any other.
    assert BASE64URL_43.fullmatch(renewed.json()["refresh_token"])
    reuse = await refresh(client, old_refresh)
    assert reuse.status_code == 400
    assert (await refresh(client, renewed.json()["refresh_token"])).status_code == 400  # family ended


@pytest.mark.parametrize("kind", ["code", "refresh_token"])
async def test_an_expired_value_of_the_earlier_shape_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection, kind: str
) -> None:
    user = await make_user(org_a)
    request = authorization()
    code = await authorization_code(client, user, request)
    old = f"{org_a.id.hex}.{secrets.token_urlsafe(32)}"
    if kind == "code":
        admin.execute(
            "UPDATE keel.authorization_codes SET code_hash = %s, expires_at = now() - interval '1 second'",
            [_digest(old)],
        )
        answer = await redeem(client, old, request)
    else:
        await redeem(client, code, request)
        admin.execute(
            "UPDATE keel.refresh_tokens SET token_hash = %s, expires_at = now() - interval '1 second'",
            [_digest(old)],
        )
        answer = await refresh(client, old, client_id=WEB_CLIENT)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
