"""Sign-in pages served by the API: password, second factor, sign-out, account and MFA enrolment.

Form POSTs answer 303 (the browser follows with GET). A failed sign-in looks the same whether or not
the account exists, and costs the same work. Guessing is slowed per account and per address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from keel.audit.security import record_security_event
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.keyring import get_key_ring
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity import mfa, repository, throttle
from keel.identity.browser import (
    SESSION_COOKIE,
    BrowserSession,
    client_address,
    csrf_valid,
    form_fields,
    load_session,
    render,
    safe_next,
    see_other,
    sign_in_rate_limited,
    start_session,
)
from keel.identity.users import check_password, verify_second_factor

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
log = structlog.get_logger("keel.identity")

BAD_CREDENTIALS = "The e-mail address or password is not right."
EXPIRED_FORM = "This form expired. Please try again."


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(next))


@router.post("/login")
async def login(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    next_page = safe_next(form.get("next"))
    email = form.get("email", "")[:254]
    if limited := await sign_in_rate_limited(request, "login.html", next=next_page, email=email):
        return limited
    if not csrf_valid(request, form.get("csrf")):
        return render(request, "login.html", status=403, error=EXPIRED_FORM, next=next_page, email=email)
    state, address = get_shared_state(), client_address(request)
    try:
        await throttle.check(state, "login", email, address)
    except Problem as refused:
        page = render(request, "login.html", status=429, error=refused.detail, next=next_page, email=email)
        page.headers["Retry-After"] = (refused.headers or {}).get("Retry-After", "60")
        return page
    user = await check_password(uow, email, form.get("password", "")[:1024])
    if user is None:
        log.warning("login.failed", address=address)
        await throttle.failed(state, "login", email, address)
        return render(request, "login.html", status=400, error=BAD_CREDENTIALS, next=next_page, email=email)
    await throttle.succeeded(state, "login", email, address)
    log.info("login.password_accepted", user_id=str(user.id), address=address)
    if not user.has_mfa:
        await record_security_event(uow, "login.succeeded", user_id=user.id, detail={"factors": ["password"]})
    if user.has_mfa:
        response = see_other("/login/mfa?" + _next_query(next_page))
    elif user.mfa_enrolment_required:
        response = see_other("/account/mfa?" + _next_query(next_page))
    else:
        response = see_other(next_page)
    await start_session(uow, user, response, mfa_done=not user.has_mfa)
    return response


def _next_query(next_page: str) -> str:
    return urlencode({"next": next_page})


async def _signed_in(request: Request, uow: UoW, *, partial: bool = False) -> BrowserSession | None:
    session = await load_session(uow, request)
    if session is None or (not partial and not session.complete):
        return None
    return session


@router.get("/login/mfa")
async def mfa_page(request: Request, uow: UoW, next: str | None = None) -> Response:
    session = await _signed_in(request, uow, partial=True)
    if session is None:
        return see_other("/login?" + _next_query(safe_next(next)))
    return render(request, "mfa.html", next=safe_next(next))


@router.post("/login/mfa")
async def verify_mfa(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    next_page = safe_next(form.get("next"))
    session = await _signed_in(request, uow, partial=True)
    if session is None:
        return see_other("/login?" + _next_query(next_page))
    if limited := await sign_in_rate_limited(request, "mfa.html", next=next_page):
        return limited
    if not csrf_valid(request, form.get("csrf")):
        return render(request, "mfa.html", status=403, error=EXPIRED_FORM, next=next_page)
    state, address, account = get_shared_state(), client_address(request), str(session.user.id)
    try:
        await throttle.check(state, "mfa", account, address)
    except Problem as refused:
        return render(request, "mfa.html", status=429, error=refused.detail, next=next_page)
    used = await verify_second_factor(uow, session.user, form.get("code", "")[:64])
    if used is None:
        log.warning("login.mfa_failed", user_id=account, address=address)
        await throttle.failed(state, "mfa", account, address)
        await record_security_event(uow, "login.failed", user_id=session.user.id, detail={"factor": "mfa"})
        uow.commit_despite_error = True
        # Kept: the spent TOTP step is not written on failure, so rolling back loses nothing.
        return render(request, "mfa.html", status=400, error="That code is not right.", next=next_page)
    await throttle.succeeded(state, "mfa", account, address)
    session.row.mfa_at = datetime.now(UTC)
    log.info("login.mfa_accepted", user_id=account, factor=used)
    await record_security_event(
        uow, "login.succeeded", user_id=session.user.id, detail={"factors": ["password", used]}
    )
    if used == "backup":  # the authenticator is lost: set up a new one before going on
        return see_other("/account/mfa?" + _next_query(next_page))
    return see_other(next_page)


@router.post("/logout")
async def logout(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    response = see_other("/login")
    session = await load_session(uow, request)
    if session is not None and csrf_valid(request, form.get("csrf")):
        session.row.revoked_at = datetime.now(UTC)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


@router.get("/account")
async def account_page(request: Request, uow: UoW) -> Response:
    session = await _signed_in(request, uow)
    if session is None:
        return see_other("/login?next=/account")
    return render(request, "account.html", user=session.user)


def _needs_fresh_sign_in(session: BrowserSession) -> bool:
    """Changing a second factor that exists needs a recent sign-in (password and that factor)."""
    return (
        session.user.has_mfa
        and not session.user.mfa_enrolment_required
        and not session.recent(get_settings().reauth_minutes)
    )


@router.get("/account/mfa")
async def mfa_enrolment_page(request: Request, uow: UoW, next: str | None = None) -> Response:
    next_page = safe_next(next)
    session = await _signed_in(request, uow, partial=True)
    if session is None or not (session.complete or session.user.mfa_enrolment_required):
        return see_other("/login?" + _next_query("/account/mfa"))
    if _needs_fresh_sign_in(session):
        return see_other("/login?" + _next_query("/account/mfa"))
    enrolment = mfa.start_enrolment(session.user.email)
    # Pending until a code from the app proves the user holds it; the current factor stays on meanwhile.
    session.user.totp_pending_encrypted = get_key_ring().encrypt(enrolment.secret.encode())
    return render(
        request,
        "mfa_enrol.html",
        qr_svg=enrolment.qr_svg,
        uri=enrolment.uri,
        secret=enrolment.secret,
        next=next_page,
    )


@router.post("/account/mfa")
async def confirm_mfa_enrolment(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    next_page = safe_next(form.get("next"))
    session = await _signed_in(request, uow, partial=True)
    if session is None or not (session.complete or session.user.mfa_enrolment_required):
        return see_other("/login?" + _next_query("/account/mfa"))
    user = session.user
    if not csrf_valid(request, form.get("csrf")) or user.totp_pending_encrypted is None:
        return see_other("/account/mfa?" + _next_query(next_page))
    if _needs_fresh_sign_in(session):
        return see_other("/login?" + _next_query("/account/mfa"))
    keyring = get_key_ring()
    secret = keyring.decrypt(user.totp_pending_encrypted).decode()
    step = mfa.accepted_step(secret, form.get("code", "")[:64], last_used_step=None)
    if step is None:
        retry = mfa.enrolment_for(secret, user.email)
        return render(
            request,
            "mfa_enrol.html",
            status=400,
            error="That code is not right. Check the time on your phone and try again.",
            qr_svg=retry.qr_svg,
            uri=retry.uri,
            secret=secret,
            next=next_page,
        )
    codes = mfa.new_backup_codes()
    now = datetime.now(UTC)
    user.totp_secret_encrypted = user.totp_pending_encrypted
    user.totp_pending_encrypted = None
    user.totp_enrolled_at = now
    user.totp_last_step = step
    user.backup_code_hashes = [mfa.hash_backup_code(c) for c in codes]
    user.mfa_enrolment_required = False
    session.row.mfa_at = now
    await record_security_event(uow, "mfa.enrolled", user_id=user.id)
    # Other sessions of this user were signed in without this factor: end them.
    await repository.end_other_login_sessions(uow.session, user.id, session.row.id, now)
    return render(request, "backup_codes.html", codes=codes, next=next_page)


@router.post("/account/mfa/backup-codes")
async def regenerate_backup_codes(request: Request, uow: UoW) -> Response:
    """Ten new backup codes, shown once; every earlier code stops working."""
    form = await form_fields(request)
    session = await _signed_in(request, uow)
    if session is None or not session.user.has_mfa or not csrf_valid(request, form.get("csrf")):
        return see_other("/account")
    if not session.recent(get_settings().reauth_minutes):
        return see_other("/login?" + _next_query("/account"))
    codes = mfa.new_backup_codes()
    session.user.backup_code_hashes = [mfa.hash_backup_code(c) for c in codes]
    await record_security_event(uow, "mfa.backup_codes_regenerated", user_id=session.user.id)
    return render(request, "backup_codes.html", codes=codes, next="/account")
