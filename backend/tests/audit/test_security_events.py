"""Account security events: sign-ins accepted and refused, second factors, passwords and e-mail, recorded
in the transaction of what they record (refusals too), readable only by their own user, append-only
and hash-chained per account."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from psycopg import errors

from keel.core.db import APP_ROLE
from tests.conftest import PUBLIC_URL, DatabaseUnderTest, Org, keel_cli
from tests.identity.conftest import (
    MakeUser,
    Person,
    authorization_server,
    bearer,
    csrf_of,
    make_user,
    sign_in,
    tokens_for,
)

__all__ = ["authorization_server", "make_user"]  # fixtures used here
MINE = "/api/v1/me/security-events"


def _events(admin: psycopg.Connection, subject: str) -> list[tuple[str, object]]:
    rows = admin.execute(
        "SELECT action, detail FROM keel.security_events WHERE subject = %s ORDER BY seq", [subject]
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def _wrong_password(http: httpx.AsyncClient, email: str) -> int:
    page = await http.get("/login")
    answer = await http.post("/login", data={"csrf": csrf_of(page), "email": email, "password": "wrong pass"})
    return answer.status_code


async def test_refused_and_accepted_sign_ins_are_recorded_for_the_account(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    person = await make_user(org_a)
    assert await _wrong_password(client, person.email) == 400
    assert await _wrong_password(client, "nobody@example.com") == 400
    assert (await sign_in(client, person)).status_code == 303
    assert _events(admin, f"user:{person.id}") == [
        ("login.failed", {"factor": "password"}),
        ("login.succeeded", {"factors": ["password"]}),
    ]
    assert _events(admin, "email:nobody@example.com") == [("login.failed", {"factor": "password"})]


async def test_second_factor_events_are_recorded(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    person = await make_user(org_a, with_mfa=True)
    page = await client.get("/login")
    await client.post(
        "/login", data={"csrf": csrf_of(page), "email": person.email, "password": person.password}
    )
    page = await client.get("/login/mfa")
    refused = await client.post("/login/mfa", data={"csrf": csrf_of(page), "code": "000000x"})
    assert refused.status_code == 400
    accepted = await client.post("/login/mfa", data={"csrf": csrf_of(page), "code": person.totp()})
    assert accepted.status_code == 303
    assert _events(admin, f"user:{person.id}") == [
        ("login.failed", {"factor": "mfa"}),
        ("login.succeeded", {"factors": ["password", "totp"]}),
    ]
    reset = await client.post(f"/api/v1/members/{person.id}/mfa-reset", headers=org_a.headers)
    assert reset.status_code == 204
    assert _events(admin, f"user:{person.id}")[-1][0] == "mfa.reset_by_admin"


async def test_a_user_reads_their_own_events_and_nobody_elses(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    first, second = await make_user(org_a), await make_user(org_a)
    await _wrong_password(client, first.email)
    first_token = bearer((await tokens_for(client, first))["access_token"])
    async with httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL) as other:
        second_token = bearer((await tokens_for(other, second))["access_token"])
    mine = (await client.get(MINE, headers=first_token)).json()["items"]
    assert [e["action"] for e in mine] == ["login.succeeded", "login.failed"]  # newest first
    assert mine[0]["ip"] and mine[0]["detail"] == {"factors": ["password"]}
    theirs = (await client.get(MINE, headers=second_token)).json()["items"]
    assert [e["action"] for e in theirs] == ["login.succeeded"]
    assert (await client.get(MINE, headers=org_a.headers)).status_code == 403  # an API key has no account


def test_the_runtime_role_cannot_write_security_events_directly(
    test_database: DatabaseUnderTest, admin: psycopg.Connection
) -> None:
    with psycopg.connect(test_database.role_conninfo(APP_ROLE)) as runtime:
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute(
                "INSERT INTO keel.security_events (subject, action, seq, prev_hash, hash) "
                "VALUES ('user:x', 'login.succeeded', 1, '\\x00', '\\x00')"
            )
        runtime.rollback()
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute("UPDATE keel.security_events SET action = 'x'")


async def test_security_events_are_append_only_and_verified(
    client: httpx.AsyncClient,
    org_a: Org,
    make_user: MakeUser,
    admin: psycopg.Connection,
    test_database: DatabaseUnderTest,
) -> None:
    person: Person = await make_user(org_a)
    for _ in range(3):
        await _wrong_password(client, person.email)
    code, output = await keel_cli(test_database, "audit", "verify")
    assert code == 0 and "account security events: 3 rows, intact" in output, output
    with pytest.raises(errors.InsufficientPrivilege):  # even the superuser, through the trigger
        admin.execute("UPDATE keel.security_events SET action = 'login.succeeded' WHERE seq = 2")
    admin.execute("ALTER TABLE keel.security_events DISABLE TRIGGER security_events_append_only")
    admin.execute("UPDATE keel.security_events SET action = 'login.succeeded' WHERE seq = 2")
    admin.execute("ALTER TABLE keel.security_events ENABLE TRIGGER security_events_append_only")
    code, output = await keel_cli(test_database, "audit", "verify")
    assert code == 1 and f"row 2 (user:{person.id}:" in output and "altered" in output, output
