"""Refresh tokens rotate on every use; reusing a rotated one ends the family; revocation (RFC 7009)."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
from psycopg.rows import dict_row

from tests.conftest import PUBLIC_URL, DatabaseUnderTest, Org
from tests.identity.conftest import (
    THIRD_PARTY,
    WEB_CLIENT,
    MakeUser,
    authorization,
    authorization_code,
    bearer,
    refresh,
    tokens_for,
)

ORGANIZATION = "/api/v1/organization"
EVENTS = "/api/v1/audit-events"


async def test_refresh_rotates_and_the_new_pair_works(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    first = await tokens_for(client, user)
    answer = await refresh(client, first["refresh_token"])
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await client.get(ORGANIZATION, headers=bearer(second["access_token"]))).status_code == 200
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_family_and_is_audited(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    first = await tokens_for(client, user)
    second = (await refresh(client, first["refresh_token"])).json()

    reuse = await refresh(client, first["refresh_token"])

    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # The legitimate holder's newer tokens die too: the thief and the owner cannot be told apart.
    assert (await refresh(client, second["refresh_token"])).status_code == 400
    assert (await client.get(ORGANIZATION, headers=bearer(second["access_token"]))).status_code == 401
    events = (await client.get(EVENTS, headers=org_a.headers)).json()["items"]
    assert any(e["action"] == "token.refresh_reuse_detected" for e in events)


async def test_two_parallel_refreshes_with_one_token_count_as_reuse(
    app, org_a: Org, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    """Decided: no grace period. One request wins, the other is a reuse, and the family ends."""
    user = await make_user(org_a)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as browser:
        tokens = await tokens_for(browser, user)

        async def attempt() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
                return await refresh(client, tokens["refresh_token"])

        answers = await asyncio.gather(attempt(), attempt())
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 400]
        winner = next(a for a in answers if a.status_code == 200).json()
        assert (await refresh(browser, winner["refresh_token"])).status_code == 400


async def test_refresh_token_of_one_client_is_useless_to_another(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    assert (await refresh(client, tokens["refresh_token"], client_id=THIRD_PARTY)).status_code == 400
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_refresh_family_has_an_absolute_end(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    rotated = (await refresh(client, tokens["refresh_token"])).json()
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT family_started_at, expires_at FROM keel.refresh_tokens").fetchall()
        assert len({r["expires_at"] for r in rows}) == 1  # rotation does not extend the family
        conn.execute("UPDATE keel.refresh_tokens SET expires_at = now() - interval '1 second'")
    assert (await refresh(client, rotated["refresh_token"])).status_code == 400


async def test_refresh_tokens_are_stored_only_as_hashes(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    secret = tokens["refresh_token"]
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM keel.refresh_tokens t WHERE strpos(t::text, %s) > 0", [secret]
        ).fetchone()
    assert row == (0,)


async def test_revoking_a_refresh_token_ends_the_family_and_its_access_tokens(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    answer = await client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": WEB_CLIENT},
    )
    assert answer.status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401


async def test_revoking_an_access_token_ends_it_and_its_family(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    answer = await client.post(
        "/oauth/revoke", data={"token": tokens["access_token"], "client_id": WEB_CLIENT}
    )
    assert answer.status_code == 200
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400


async def test_revoking_an_unknown_token_answers_200_and_changes_nothing(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    for junk in ("nonsense", org_a.id.hex + "." + "x" * 43, "x" * 43):
        answer = await client.post("/oauth/revoke", data={"token": junk, "client_id": WEB_CLIENT})
        assert answer.status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_another_client_cannot_revoke_a_token(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    await client.post("/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": THIRD_PARTY})
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_token_endpoint_refuses_json_bodies(
    client: httpx.AsyncClient, authorization_server: None
) -> None:
    answer = await client.post("/oauth/token", json={"grant_type": "refresh_token", "refresh_token": "x"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


async def test_spent_credentials_are_purged_a_day_after_their_end_and_live_ones_stay(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    from keel.identity.tasks import purge_spent_credentials

    old, current = await make_user(org_a), await make_user(org_a)
    await tokens_for(client, old)
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other_browser:
        live = await tokens_for(other_browser, current)
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        for table in ("authorization_codes", "refresh_tokens", "login_sessions"):
            conn.execute(
                f"UPDATE keel.{table} SET expires_at = now() - interval '2 days' WHERE user_id = %s", [old.id]
            )
    removed = await purge_spent_credentials(timestamp=0)
    assert removed == 3
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        for table in ("authorization_codes", "refresh_tokens", "login_sessions"):
            left = conn.execute(f"SELECT user_id FROM keel.{table}").fetchall()
            assert {r[0] for r in left} == {current.id}, table
    assert (await refresh(client, live["refresh_token"])).status_code == 200


async def test_an_organisation_can_keep_sign_ins_shorter_but_not_longer_than_the_platform(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    for days, expected in ((3, 3), (365, 30)):  # the platform allows 30 days by default
        current = await client.get(ORGANIZATION, headers=org_a.headers)
        saved = await client.patch(
            ORGANIZATION,
            json={"settings": {"refresh_token_days": days}},
            headers={**org_a.headers, "If-Match": current.headers["etag"]},
        )
        assert saved.status_code == 200
        async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as browser:
            await tokens_for(browser, await make_user(org_a))
        with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT expires_at - family_started_at FROM keel.refresh_tokens "
                "ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
        assert row is not None and row[0].days == expected, days


async def test_an_organisation_can_ask_for_a_fresh_sign_in_before_issuing_tokens(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    person = await make_user(org_a)
    request = authorization()
    await authorization_code(client, person, request)  # a browser session, signed in now
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("UPDATE keel.login_sessions SET password_at = now() - interval '3 hours'")
    assert (await client.get(request.url)).status_code == 302  # the platform allows 12 hours
    current = await client.get(ORGANIZATION, headers=org_a.headers)
    saved = await client.patch(
        ORGANIZATION,
        json={"settings": {"session_hours": 2}},
        headers={**org_a.headers, "If-Match": current.headers["etag"]},
    )
    assert saved.status_code == 200
    again = await client.get(request.url)
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")
    assert (await client.get(authorization().url)).status_code == 303  # no code for any client
    code = await authorization_code(client, person, request)  # signing in again is enough
    assert code
