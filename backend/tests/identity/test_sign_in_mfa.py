"""Second factor at sign-in: TOTP once per code, backup codes, enrolment, org-required MFA, re-auth."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from keel.identity import mfa
from keel.identity.users import verify_second_factor
from tests.conftest import DatabaseUnderTest, Org
from tests.identity.conftest import (
    MakeUser,
    Person,
    authorization,
    csrf_of,
    sign_in,
)

ENROL_SECRET = re.compile(r"<code>([A-Z2-7]{32})</code>")
BACKUP_CODE = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")


async def _password_step(
    client: httpx.AsyncClient, user: Person, next_page: str = "/account"
) -> httpx.Response:
    page = await client.get("/login", params={"next": next_page})
    return await client.post(
        "/login",
        data={"csrf": csrf_of(page), "email": user.email, "password": user.password, "next": next_page},
    )


async def _code_step(client: httpx.AsyncClient, code: str, next_page: str = "/account") -> httpx.Response:
    page = await client.get("/login/mfa", params={"next": next_page})
    return await client.post("/login/mfa", data={"csrf": csrf_of(page), "code": code, "next": next_page})


async def test_user_with_mfa_is_not_signed_in_until_the_code(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a, with_mfa=True)
    first = await _password_step(client, user)
    assert first.status_code == 303 and first.headers["location"].startswith("/login/mfa")
    # Half signed in: the account page and authorization both send back to sign-in.
    assert (await client.get("/account")).headers["location"].startswith("/login")
    assert (await client.get(authorization().url)).headers["location"].startswith("/login")
    done = await _code_step(client, user.totp())
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert (await client.get("/account")).status_code == 200


async def test_a_totp_code_works_once(client: httpx.AsyncClient, org_a: Org, make_user: MakeUser) -> None:
    user = await make_user(org_a, with_mfa=True)
    code = user.totp()
    await _password_step(client, user)
    assert (await _code_step(client, code)).status_code == 303
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other:
        await _password_step(other, user)
        replay = await _code_step(other, code)
        assert replay.status_code == 400 and "not right" in replay.text


async def test_wrong_code_is_refused(client: httpx.AsyncClient, org_a: Org, make_user: MakeUser) -> None:
    user = await make_user(org_a, with_mfa=True)
    await _password_step(client, user)
    good = user.totp()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    assert (await _code_step(client, wrong)).status_code == 400


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)]
)
async def test_totp_window_is_one_step_either_side_with_a_frozen_clock(
    org_a: Org, make_user: MakeUser, offset: int, accepted: bool
) -> None:
    from keel.core import db as core_db
    from keel.core.uow import job_unit_of_work
    from keel.identity.users import act_as
    from keel.models import User

    user = await make_user(org_a, with_mfa=True)
    assert user.totp_secret is not None
    now = datetime(2026, 11, 25, 12, 0, 15, tzinfo=UTC)
    code = pyotp.TOTP(user.totp_secret).at(now + timedelta(seconds=offset))
    assert (mfa.accepted_step(user.totp_secret, code, last_used_step=None, now=now) is not None) is accepted
    # And through the account, where the matched step is stored: the same code is refused after.
    async with job_unit_of_work(core_db.runtime_database(), None) as uow:
        await act_as(uow, user.id)
        row = await uow.session.get(User, user.id)
        assert row is not None
        live = pyotp.TOTP(user.totp_secret).now()
        assert await verify_second_factor(uow, row, live) == "totp"
        assert await verify_second_factor(uow, row, live) is None


async def _enrol(client: httpx.AsyncClient, next_page: str = "/account") -> tuple[str, list[str]]:
    page = await client.get("/account/mfa", params={"next": next_page})
    assert page.status_code == 200, page.text[:300]
    match = ENROL_SECRET.search(page.text)
    assert match and "<svg" in page.text
    secret = match.group(1)
    done = await client.post(
        "/account/mfa", data={"csrf": csrf_of(page), "code": pyotp.TOTP(secret).now(), "next": next_page}
    )
    assert done.status_code == 200, done.text[:300]
    return secret, BACKUP_CODE.findall(done.text)


async def test_enrolment_shows_ten_backup_codes_once_and_turns_mfa_on(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    await sign_in(client, user)
    _, codes = await _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other:
        first = await _password_step(other, user)
        assert first.headers["location"].startswith("/login/mfa")


async def test_enrolment_needs_a_valid_code_from_the_new_secret(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    await sign_in(client, user)
    page = await client.get("/account/mfa")
    answer = await client.post("/account/mfa", data={"csrf": csrf_of(page), "code": "000000"})
    assert answer.status_code == 400
    again = await _password_step(client, user)
    assert again.headers["location"] == "/account"  # still no second factor


async def test_a_backup_code_signs_in_once_and_forces_re_enrolment(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    await sign_in(client, user)
    _, codes = await _enrol(client)
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as lost_phone:
        await _password_step(lost_phone, user)
        used = await _code_step(lost_phone, codes[0].upper())
        assert used.status_code == 303 and used.headers["location"].startswith("/account/mfa")
        # Until a new authenticator is set up, authorization sends the user to enrolment.
        request = authorization()
        assert (await lost_phone.get(request.url)).headers["location"].startswith("/account/mfa")
        new_secret, _ = await _enrol(lost_phone)
        assert (await lost_phone.get(request.url)).status_code == 302
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as again:
        await _password_step(again, user)
        assert (await _code_step(again, codes[0])).status_code == 400  # single use
        # The enrolment used the current step's code; the next step's code is still in the window.
        next_code = pyotp.TOTP(new_secret).at(datetime.now(UTC) + timedelta(seconds=30))
        assert (await _code_step(again, next_code)).status_code == 303


async def test_changing_an_existing_second_factor_needs_a_recent_sign_in(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    import psycopg

    user = await make_user(org_a, with_mfa=True)
    await sign_in(client, user)
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("UPDATE keel.login_sessions SET mfa_at = now() - interval '1 hour'")
    answer = await client.get("/account/mfa")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def test_organisation_requiring_mfa_sends_members_without_it_to_enrol(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    current = await client.get("/api/v1/organization", headers=org_a.headers)
    patched = await client.patch(
        "/api/v1/organization",
        json={"settings": {"mfa_required": True}},
        headers={**org_a.headers, "If-Match": current.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    user = await make_user(org_a)
    request = authorization()
    await sign_in(client, user, next_page=request.url)
    answer = await client.get(request.url)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/account/mfa")
    await _enrol(client)
    assert (await client.get(request.url)).status_code == 302


async def test_new_backup_codes_replace_the_old_set(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    await sign_in(client, user)
    _, old_codes = await _enrol(client)
    account = await client.get("/account")
    assert "10 backup codes left" in account.text
    fresh = await client.post("/account/mfa/backup-codes", data={"csrf": csrf_of(account)})
    new_codes = BACKUP_CODE.findall(fresh.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other:
        await _password_step(other, user)
        assert (await _code_step(other, old_codes[1])).status_code == 400
        assert (await _code_step(other, new_codes[1])).status_code == 303


async def test_enrolment_page_offers_the_otpauth_uri_and_an_svg_qr_code(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    user = await make_user(org_a)
    await sign_in(client, user)
    page = await client.get("/account/mfa")
    assert 'href="otpauth://totp/Keel:' in page.text and "<svg" in page.text
