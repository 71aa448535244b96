"""Changing the password or the e-mail address: both need a recent sign-in (password and second factor).

A new password ends every other session and token of the account. A new e-mail address takes effect
only once a link sent to it is opened; the old address is told.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from keel.audit.security import record_security_event
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.mail import queue_email
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity import passwords, repository
from keel.identity.browser import (
    BrowserSession,
    csrf_valid,
    form_fields,
    load_session,
    render,
    see_other,
    start_session,
)
from keel.identity.revocation import mark_revoked, subject_key
from keel.identity.users import issue_user_link, normalise_email, open_user_link

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

VERIFY_HOURS = 24


async def _recent_session(request: Request, uow: UoW, page: str) -> BrowserSession | Response:
    """The session when its sign-in is recent enough for a sensitive change; else a way to sign in again."""
    session = await load_session(uow, request)
    if session is None or not session.complete or not session.recent(get_settings().reauth_minutes):
        return see_other("/login?" + urlencode({"next": page}))
    return session


@router.get("/account/password")
async def password_page(request: Request, uow: UoW) -> Response:
    session = await _recent_session(request, uow, "/account/password")
    if isinstance(session, Response):
        return session
    return render(request, "password_change.html")


@router.post("/account/password")
async def change_password(request: Request, uow: UoW) -> Response:
    session = await _recent_session(request, uow, "/account/password")
    if isinstance(session, Response):
        return session
    form = await form_fields(request)
    if not csrf_valid(request, form.get("csrf")):
        return render(
            request, "password_change.html", status=403, error="This form expired. Please try again."
        )
    user = session.user
    password = form.get("password", "")[:1024]
    verdict = passwords.judge_password(password, personal=(user.email, user.name))
    if not verdict.acceptable:
        return render(request, "password_change.html", status=422, error=" ".join(verdict.problems))
    now = datetime.now(UTC)
    user.password_hash = await passwords.hash_password(password)
    user.tokens_valid_after = now  # every session and token of the account ends…
    await mark_revoked(get_shared_state(), [subject_key(user.id)])
    await record_security_event(uow, "password.changed", user_id=user.id)
    response = see_other("/account")
    await start_session(uow, user, response, mfa_done=True)  # …except this browser's, started anew
    return response


@router.get("/account/email")
async def email_page(request: Request, uow: UoW) -> Response:
    session = await _recent_session(request, uow, "/account/email")
    if isinstance(session, Response):
        return session
    return render(request, "email_change.html", user=session.user)


@router.post("/account/email")
async def request_email_change(request: Request, uow: UoW) -> Response:
    session = await _recent_session(request, uow, "/account/email")
    if isinstance(session, Response):
        return session
    form = await form_fields(request)
    user = session.user
    if not csrf_valid(request, form.get("csrf")):
        return render(request, "email_change.html", status=403, error="This form expired.", user=user)
    try:
        new_email = normalise_email(form.get("email", "")[:254])
    except Problem as invalid:
        return render(request, "email_change.html", status=422, error=invalid.detail, user=user)
    if new_email == user.email or await repository.has_account(uow.session, new_email):
        # Same answer as success for a taken address: the form must not reveal who has an account.
        return render(request, "message.html", title="Check your e-mail", message=_sent(new_email))
    link = await issue_user_link(
        uow, user.id, "verify_email", timedelta(hours=VERIFY_HOURS), new_email=new_email
    )
    url = f"{get_settings().issuer}/account/email/verify?token={link}"
    await queue_email(
        uow,
        new_email,
        "Confirm your new Keel e-mail address",
        f"Open this link to use this address for your Keel account (it works once, for {VERIFY_HOURS} "
        f"hours):\n{url}\n",
    )
    return render(request, "message.html", title="Check your e-mail", message=_sent(new_email))


def _sent(address: str) -> str:
    return f"We sent a link to {address}. Your address changes when you open it."


@router.get("/account/email/verify")
async def verify_email(request: Request, uow: UoW, token: str = "") -> Response:
    found = await open_user_link(uow, token, "verify_email")
    if found is None:
        return render(
            request,
            "message.html",
            status=404,
            title="This link is not valid any more",
            message="Ask for a new one.",
        )
    row, user = found
    assert row.new_email is not None
    if await repository.has_account(uow.session, row.new_email):
        return render(
            request, "message.html", status=409, title="Address in use", message="Choose another address."
        )
    old_email = user.email
    now = datetime.now(UTC)
    user.email, user.email_verified_at, user.version = row.new_email, now, user.version + 1
    row.used_at = now
    await record_security_event(
        uow, "email.changed", user_id=user.id, detail={"from": old_email, "to": row.new_email}
    )
    await queue_email(
        uow,
        old_email,
        "Your Keel e-mail address was changed",
        f"The e-mail address of your Keel account is now {row.new_email}.\n"
        "If you did not do this, contact your organisation's administrator at once.\n",
    )
    return render(
        request, "message.html", title="E-mail address changed", message=f"You now sign in as {user.email}."
    )
