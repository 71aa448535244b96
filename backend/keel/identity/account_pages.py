"""Pages reached from e-mailed links to reset a forgotten password (invitations: keel.users.invitation_pages).

A reset link works once, for 30 minutes, and never says whether an account exists. Resetting ends
every session and refresh token of the account; it does not sign anyone in, so the second factor is
still asked at the next sign-in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from keel.audit.security import record_security_event
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.mail import queue_email
from keel.core.uow import UnitOfWork, UnitOfWorkRoute, UoW
from keel.identity import passwords, repository, throttle
from keel.identity.browser import (
    client_address,
    csrf_valid,
    form_fields,
    render,
    see_other,
    sign_in_rate_limited,
)
from keel.identity.revocation import mark_revoked, subject_key
from keel.identity.users import issue_user_link, normalise_email, open_user_link

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

RESET_MINUTES = 30
RESET_SENT = "If an account uses this address, we have sent it a link to choose a new password."


@router.get("/password/forgot")
async def forgot_password_page(request: Request) -> Response:
    return render(request, "password_forgot.html")


@router.post("/password/forgot")
async def forgot_password(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    if limited := await sign_in_rate_limited(request, "password_forgot.html"):
        return limited
    if not csrf_valid(request, form.get("csrf")):
        return render(
            request, "password_forgot.html", status=403, error="This form expired. Please try again."
        )
    email = form.get("email", "")[:254]
    state, address = get_shared_state(), client_address(request)
    try:
        await throttle.check(state, "reset", email, address)
    except Problem as refused:
        return render(request, "password_forgot.html", status=429, error=refused.detail)
    # Every request counts, so the link cannot be used to flood someone's inbox.
    await throttle.failed(state, "reset", email, address)
    try:
        email = normalise_email(email)
    except Problem:
        return render(request, "password_forgot.html", status=422, error="Enter a valid e-mail address.")
    await _send_reset_link(uow, email)
    return render(request, "message.html", title="Check your e-mail", message=RESET_SENT)


async def _send_reset_link(uow: UnitOfWork, email: str) -> None:
    user_id = await repository.account_id_by_email(uow.session, email)
    if user_id is None:
        return
    link = await issue_user_link(uow, user_id, "reset_password", timedelta(minutes=RESET_MINUTES))
    url = f"{get_settings().issuer}/password/reset?token={link}"
    await queue_email(
        uow,
        email,
        "Choose a new Keel password",
        f"Someone asked to reset the password of your Keel account.\n\nChoose a new password here "
        f"(the link works once, for {RESET_MINUTES} minutes):\n{url}\n\n"
        "If it was not you, ignore this message: your password stays as it is.\n",
    )


@router.get("/password/reset")
async def reset_password_page(request: Request, uow: UoW, token: str = "") -> Response:
    if await open_user_link(uow, token, "reset_password") is None:
        return _expired_link(request)
    return render(request, "password_reset.html", token=token)


def _expired_link(request: Request) -> Response:
    return render(
        request,
        "message.html",
        status=404,
        title="This link is not valid any more",
        message="Reset links work once, for 30 minutes. Ask for a new one.",
    )


@router.post("/password/reset")
async def reset_password(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    token = form.get("token", "")
    if limited := await sign_in_rate_limited(request, "password_reset.html", token=token):
        return limited
    if not csrf_valid(request, form.get("csrf")):
        return render(request, "password_reset.html", status=403, error="This form expired.", token=token)
    found = await open_user_link(uow, token, "reset_password")
    if found is None:
        return _expired_link(request)
    row, user = found
    password = form.get("password", "")[:1024]
    verdict = passwords.judge_password(password, personal=(user.email, user.name))
    if not verdict.acceptable:
        return render(
            request, "password_reset.html", status=422, error=" ".join(verdict.problems), token=token
        )
    now = datetime.now(UTC)
    user.password_hash = await passwords.hash_password(password)
    user.tokens_valid_after = now  # every session and refresh token ends
    row.used_at = now
    await mark_revoked(get_shared_state(), [subject_key(user.id)])
    await record_security_event(uow, "password.reset", user_id=user.id)
    return see_other("/login?reset=1")
