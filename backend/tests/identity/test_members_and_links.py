"""Invitations, password reset by e-mail, and what an Org Admin does to members (tokens die at once)."""

from __future__ import annotations

import re

import httpx
import psycopg

from tests.conftest import DatabaseUnderTest, Inbox, MakeOrg, Org, deliver_mail
from tests.identity.conftest import (
    PASSWORD,
    MakeUser,
    Person,
    bearer,
    csrf_of,
    refresh,
    sign_in,
    tokens_for,
)

INVITATIONS = "/api/v1/invitations"
MEMBERS = "/api/v1/members"
ORGANIZATION = "/api/v1/organization"
LINK = re.compile(r"https://keel\.test(/[^\s]+)")
NEW_PASSWORD = "quiet river lantern 1987 orbit"


def link_in(inbox: Inbox, address: str) -> str:
    messages = inbox.to(address)
    assert messages, f"no mail to {address}"
    match = LINK.search(messages[-1].get_content())
    assert match
    return match.group(1)


async def invite(client: httpx.AsyncClient, org: Org, email: str, role: str = "sales_rep") -> httpx.Response:
    return await client.post(
        INVITATIONS, json={"email": email, "role": role}, headers={**org.headers, "Idempotency-Key": email}
    )


async def test_invited_person_signs_up_joins_with_the_role_and_gets_tokens(
    client: httpx.AsyncClient,
    org_a: Org,
    inbox: Inbox,
    test_database: DatabaseUnderTest,
    authorization_server: None,
) -> None:
    answer = await invite(client, org_a, "New.Person@Example.com", "finance")
    assert answer.status_code == 201 and answer.json()["email"] == "new.person@example.com"
    assert inbox.to("new.person@example.com") == []  # sent by a job, after the commit
    await deliver_mail(test_database)
    link = link_in(inbox, "new.person@example.com")

    page = await client.get(link)
    assert page.status_code == 200 and "Choose a password" in page.text
    token = link.split("token=")[1]
    joined = await client.post(
        "/invitations/accept",
        data={"csrf": csrf_of(page), "token": token, "name": "New Person", "password": PASSWORD},
    )
    assert joined.status_code == 303
    person = Person(id=None, email="new.person@example.com", password=PASSWORD)  # type: ignore[arg-type]
    tokens = await tokens_for(client, person)
    members = (await client.get(MEMBERS, headers=org_a.headers)).json()
    assert [m["role"] for m in members if m["email"] == "new.person@example.com"] == ["finance"]
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 200


async def test_invitation_link_works_once(
    client: httpx.AsyncClient,
    org_a: Org,
    inbox: Inbox,
    test_database: DatabaseUnderTest,
    authorization_server: None,
) -> None:
    await invite(client, org_a, "once@example.com")
    await deliver_mail(test_database)
    link = link_in(inbox, "once@example.com")
    page = await client.get(link)
    token = link.split("token=")[1]
    form = {"csrf": csrf_of(page), "token": token, "name": "Once", "password": PASSWORD}
    assert (await client.post("/invitations/accept", data=form)).status_code == 303
    again = await client.post("/invitations/accept", data=form)
    assert again.status_code == 404
    assert (await client.get(link)).status_code == 404


async def test_existing_user_joins_a_second_organisation_with_their_password(
    client: httpx.AsyncClient,
    make_org: MakeOrg,
    make_user: MakeUser,
    inbox: Inbox,
    test_database: DatabaseUnderTest,
) -> None:
    home, other = await make_org("Home"), await make_org("Other")
    user = await make_user(home)
    await invite(client, other, user.email, "support")
    await deliver_mail(test_database)
    link = link_in(inbox, user.email)
    page = await client.get(link)
    assert "already have a Keel account" in page.text
    token = link.split("token=")[1]
    wrong = await client.post(
        "/invitations/accept", data={"csrf": csrf_of(page), "token": token, "password": "not the password 1"}
    )
    assert wrong.status_code == 400
    right = await client.post(
        "/invitations/accept", data={"csrf": csrf_of(page), "token": token, "password": user.password}
    )
    assert right.status_code == 303
    roles = {m["email"]: m["role"] for m in (await client.get(MEMBERS, headers=other.headers)).json()}
    assert roles[user.email] == "support"


async def test_revoked_or_expired_invitations_do_not_open(
    client: httpx.AsyncClient,
    org_a: Org,
    inbox: Inbox,
    test_database: DatabaseUnderTest,
    authorization_server: None,
) -> None:
    revoked = (await invite(client, org_a, "revoked@example.com")).json()
    await invite(client, org_a, "late@example.com")
    await deliver_mail(test_database)
    assert (await client.delete(f"{INVITATIONS}/{revoked['id']}", headers=org_a.headers)).status_code == 200
    assert (await client.get(link_in(inbox, "revoked@example.com"))).status_code == 404
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("UPDATE keel.invitations SET expires_at = now() - interval '1 second'")
    assert (await client.get(link_in(inbox, "late@example.com"))).status_code == 404


async def test_inviting_an_existing_member_or_a_bad_address_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    assert (await invite(client, org_a, user.email.upper())).status_code == 409
    assert (await invite(client, org_a, "not-an-address")).status_code == 422
    bad_role = await client.post(
        INVITATIONS, json={"email": "x@example.com", "role": "owner"}, headers=org_a.headers
    )
    assert bad_role.status_code == 422


async def test_only_org_admins_manage_members(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a, "sales_rep")
    tokens = await tokens_for(client, rep)
    answer = await client.post(
        INVITATIONS,
        json={"email": "x@example.com", "role": "org_admin"},
        headers=bearer(tokens["access_token"]),
    )
    assert answer.status_code == 403
    assert (await client.get(MEMBERS, headers=bearer(tokens["access_token"]))).status_code == 403


async def test_removing_a_member_kills_their_tokens_at_once(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    await make_user(org_a, "org_admin")
    rep = await make_user(org_a, "sales_rep")
    tokens = await tokens_for(client, rep)
    assert (await client.delete(f"{MEMBERS}/{rep.id}", headers=org_a.headers)).status_code == 204
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400


async def test_changing_a_role_ends_current_tokens_and_the_refresh_carries_the_new_role(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    await make_user(org_a, "org_admin")
    rep = await make_user(org_a, "sales_rep")
    tokens = await tokens_for(client, rep)
    changed = await client.patch(f"{MEMBERS}/{rep.id}", json={"role": "manager"}, headers=org_a.headers)
    assert changed.status_code == 200 and changed.json()["role"] == "manager"
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401
    renewed = (await refresh(client, tokens["refresh_token"])).json()
    from tests.identity.test_authorization_code import claims_of

    assert claims_of(renewed["access_token"])["roles"] == ["manager"]


async def test_the_last_org_admin_cannot_be_removed_or_demoted(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    admin = await make_user(org_a, "org_admin")
    assert (await client.delete(f"{MEMBERS}/{admin.id}", headers=org_a.headers)).status_code == 409
    demote = await client.patch(f"{MEMBERS}/{admin.id}", json={"role": "support"}, headers=org_a.headers)
    assert demote.status_code == 409


async def test_members_of_another_organisation_cannot_be_touched(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    stranger = await make_user(org_b, "sales_rep")
    for call in (
        client.delete(f"{MEMBERS}/{stranger.id}", headers=org_a.headers),
        client.patch(f"{MEMBERS}/{stranger.id}", json={"role": "manager"}, headers=org_a.headers),
        client.post(f"{MEMBERS}/{stranger.id}/mfa-reset", headers=org_a.headers),
    ):
        assert (await call).status_code == 404
    assert stranger.email not in (await client.get(MEMBERS, headers=org_a.headers)).text


async def test_org_admin_mfa_reset_ends_sessions_and_forces_enrolment(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    member = await make_user(org_a, "manager", with_mfa=True)
    tokens = await tokens_for(client, member)
    assert (await client.post(f"{MEMBERS}/{member.id}/mfa-reset", headers=org_a.headers)).status_code == 204
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    assert (await client.get("/account")).headers["location"].startswith("/login")  # session ended
    events = (await client.get("/api/v1/audit-events", headers=org_a.headers)).json()["items"]
    assert any(e["action"] == "member.mfa_reset" for e in events)
    page = await client.get("/login")
    answer = await client.post(
        "/login", data={"csrf": csrf_of(page), "email": member.email, "password": member.password}
    )
    assert answer.headers["location"].startswith("/account/mfa")


async def _request_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await client.get("/password/forgot")
    return await client.post("/password/forgot", data={"csrf": csrf_of(page), "email": email})


async def test_password_reset_does_not_reveal_whether_an_account_exists(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, inbox: Inbox, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    known = await _request_reset(client, user.email)
    unknown = await _request_reset(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text.split("<main>")[1] == unknown.text.split("<main>")[1]
    await deliver_mail(test_database)
    assert len(inbox.to(user.email)) == 1 and inbox.to("nobody@example.com") == []


async def test_password_reset_link_works_once_and_ends_every_session_and_token(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, inbox: Inbox, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as stranger:
        await _request_reset(stranger, user.email)
        await deliver_mail(test_database)
        link = link_in(inbox, user.email)
        page = await stranger.get(link)
        token = link.split("token=")[1]
        weak = await stranger.post(
            "/password/reset", data={"csrf": csrf_of(page), "token": token, "password": "password"}
        )
        assert weak.status_code == 422
        done = await stranger.post(
            "/password/reset", data={"csrf": csrf_of(page), "token": token, "password": NEW_PASSWORD}
        )
        assert done.status_code == 303 and done.headers["location"].startswith("/login")
        again = await stranger.post(
            "/password/reset", data={"csrf": csrf_of(page), "token": token, "password": NEW_PASSWORD + "x"}
        )
        assert again.status_code == 404
    assert (await client.get("/account")).headers["location"].startswith("/login")
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    old = await sign_in(client, user)
    assert old.status_code == 400
    user.password = NEW_PASSWORD
    assert (await sign_in(client, user)).status_code == 303


async def test_password_reset_does_not_bypass_mfa(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, inbox: Inbox, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a, with_mfa=True)
    await _request_reset(client, user.email)
    await deliver_mail(test_database)
    link = link_in(inbox, user.email)
    page = await client.get(link)
    done = await client.post(
        "/password/reset",
        data={"csrf": csrf_of(page), "token": link.split("token=")[1], "password": NEW_PASSWORD},
    )
    assert "__Host-keel_session" not in done.headers.get("set-cookie", "")
    page = await client.get("/login")
    answer = await client.post(
        "/login", data={"csrf": csrf_of(page), "email": user.email, "password": NEW_PASSWORD}
    )
    assert answer.headers["location"].startswith("/login/mfa")


async def test_expired_reset_link_is_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, inbox: Inbox, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    await _request_reset(client, user.email)
    await deliver_mail(test_database)
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("UPDATE keel.user_tokens SET expires_at = now() - interval '1 second'")
    assert (await client.get(link_in(inbox, user.email))).status_code == 404


async def test_profile_reads_and_updates_the_signed_in_user_only(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == user.email
    changed = await client.patch(
        "/api/v1/me",
        json={"name": "Ada", "time_zone": "Europe/Paris", "locale": "fr-FR"},
        headers=bearer(tokens["access_token"]),
    )
    assert changed.status_code == 200 and changed.json()["time_zone"] == "Europe/Paris"
    bad = await client.patch(
        "/api/v1/me", json={"time_zone": "Mars/Olympus"}, headers=bearer(tokens["access_token"])
    )
    assert bad.status_code == 422
    assert (await client.get("/api/v1/me", headers=org_a.headers)).status_code == 403  # an API key is no user


async def test_disabling_a_user_ends_sessions_and_tokens_at_once_and_blocks_sign_in(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    from keel.core.platform import platform_unit_of_work
    from keel.identity.users import set_disabled

    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    async with platform_unit_of_work("tests") as uow:
        await set_disabled(uow, user.email.upper(), disabled=True)
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    assert (await client.get("/account")).headers["location"].startswith("/login")
    assert (await sign_in(client, user)).status_code == 400
    async with platform_unit_of_work("tests") as uow:
        await set_disabled(uow, user.email, disabled=False)
    assert (await sign_in(client, user)).status_code == 303
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400  # old tokens stay dead


async def test_changing_the_password_needs_a_recent_sign_in_and_ends_other_sessions(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    tokens = await tokens_for(client, user)
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("UPDATE keel.login_sessions SET password_at = now() - interval '1 hour'")
    stale = await client.get("/account/password")
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
    await sign_in(client, user)
    page = await client.get("/account/password")
    assert page.status_code == 200
    changed = await client.post("/account/password", data={"csrf": csrf_of(page), "password": NEW_PASSWORD})
    assert changed.status_code == 303
    assert (await client.get("/account")).status_code == 200  # this browser stays signed in
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    assert (await client.get(ORGANIZATION, headers=bearer(tokens["access_token"]))).status_code == 401


async def test_a_new_email_address_counts_once_its_link_is_opened(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, inbox: Inbox, test_database: DatabaseUnderTest
) -> None:
    user = await make_user(org_a)
    await sign_in(client, user)
    page = await client.get("/account/email")
    sent = await client.post("/account/email", data={"csrf": csrf_of(page), "email": "Moved@Example.com"})
    assert sent.status_code == 200
    await deliver_mail(test_database)
    assert (await sign_in(client, user)).status_code == 303  # nothing changed yet
    link = link_in(inbox, "moved@example.com")
    assert (await client.get(link)).status_code == 200
    assert (await client.get(link)).status_code == 404  # once
    await deliver_mail(test_database)
    assert "moved@example.com" in inbox.to(user.email)[-1].get_content()
    user.email = "moved@example.com"
    assert (await sign_in(client, user)).status_code == 303


async def test_asking_for_an_address_someone_else_has_reveals_nothing_and_sends_nothing(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, inbox: Inbox, test_database: DatabaseUnderTest
) -> None:
    user, other = await make_user(org_a), await make_user(org_a)
    await sign_in(client, user)
    page = await client.get("/account/email")
    taken = await client.post("/account/email", data={"csrf": csrf_of(page), "email": other.email})
    free = await client.post("/account/email", data={"csrf": csrf_of(page), "email": "free@example.com"})
    assert taken.status_code == free.status_code == 200
    assert (
        taken.text.replace(other.email, "X").split("<main>")[1]
        == free.text.replace("free@example.com", "X").split("<main>")[1]
    )
    await deliver_mail(test_database)
    assert inbox.to(other.email) == []


async def test_invitations_only_go_to_the_organisations_allowed_domains(
    client: httpx.AsyncClient, org_a: Org, authorization_server: None
) -> None:
    current = await client.get(ORGANIZATION, headers=org_a.headers)
    saved = await client.patch(
        ORGANIZATION,
        json={"settings": {"invitation_domains": ["Example.com", "acme.test"]}},
        headers={**org_a.headers, "If-Match": current.headers["etag"]},
    )
    assert saved.status_code == 200 and saved.json()["settings"]["invitation_domains"] == [
        "example.com",
        "acme.test",
    ]
    assert (await invite(client, org_a, "someone@gmail.example")).status_code == 422
    assert (await invite(client, org_a, "ok@acme.test")).status_code == 201
    current = await client.get(ORGANIZATION, headers=org_a.headers)
    bad = await client.patch(
        ORGANIZATION,
        json={"settings": {"invitation_domains": ["not a domain"]}},
        headers={**org_a.headers, "If-Match": current.headers["etag"]},
    )
    assert bad.status_code == 422
