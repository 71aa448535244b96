"""What the authorization server's pages share: the session cookie, CSRF tokens and page rendering.

Cookies are `__Host-` prefixed, Secure, HttpOnly and SameSite=Lax (the authorization redirect is a
top-level navigation from the client's site, so Strict would drop the session on it). Every form
carries a CSRF token: an HMAC of a random per-browser cookie, so a page on another site can neither
read nor forge it. Every page carries a CSP with a per-response nonce and cannot be framed.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from keel.core.config import get_settings
from keel.core.db import set_tenant_context
from keel.core.errors import Problem
from keel.core.keyring import get_key_ring
from keel.core.ratelimit import get_rate_limiter, limit
from keel.core.uow import UnitOfWork
from keel.identity import opaque, repository
from keel.models import LoginSession, User

SESSION_COOKIE = "__Host-keel_session"
CSRF_COOKIE = "__Host-keel_csrf"
SAFE_NEXT_PREFIXES = ("/oauth/authorize?", "/account")

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class BrowserSession:
    def __init__(self, row: LoginSession, user: User) -> None:
        self.row, self.user = row, user

    @property
    def complete(self) -> bool:
        """Signed in: the password, and the second factor when the user has one."""
        return self.row.mfa_at is not None or not self.user.has_mfa

    def recent(self, minutes: int) -> bool:
        """Signed in within `minutes` (the second factor too): enough for a sensitive change."""
        since = datetime.now(UTC) - timedelta(minutes=minutes)
        last = self.row.mfa_at if self.user.has_mfa else self.row.password_at
        return last is not None and last >= since


async def load_session(uow: UnitOfWork, request: Request) -> BrowserSession | None:
    """The live session the cookie names, with the transaction acting as its user; else None."""
    parsed = opaque.parse_credential(request.cookies.get(SESSION_COOKIE))
    if parsed is None:
        return None
    user_id, secret_hash = parsed
    await set_tenant_context(uow.session, None, user_id)
    row = await repository.live_login_session(uow.session, user_id, secret_hash)
    if row is None:
        return None
    user = await repository.user_by_id(uow.session, user_id)
    if user is None or user.disabled_at is not None or user.tokens_valid_after > row.created_at:
        return None
    uow.user_id, uow.actor = user_id, f"user:{user_id}"
    return BrowserSession(row, user)


async def start_session(uow: UnitOfWork, user: User, response: Response, *, mfa_done: bool) -> LoginSession:
    settings = get_settings()
    now = datetime.now(UTC)
    value, secret_hash = opaque.new_credential(user.id)
    row = LoginSession(
        user_id=user.id,
        secret_hash=secret_hash,
        password_at=now,
        mfa_at=now if mfa_done else None,
        expires_at=now + timedelta(hours=settings.login_session_hours),
        ip=uow.client_ip,
        user_agent=(uow.user_agent or "")[:400] or None,
        created_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    set_cookie(response, SESSION_COOKIE, value, max_age=settings.login_session_hours * 3600)
    return row


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax")


def _csrf_key() -> bytes:
    return get_key_ring().derive("csrf")


def csrf_token(request: Request) -> tuple[str, str | None]:
    """The token for this browser's forms, and a new cookie value to set when it had none."""
    cookie = request.cookies.get(CSRF_COOKIE)
    new = None
    if not cookie or len(cookie) > 64:
        cookie = new = secrets.token_urlsafe(24)
    return hmac.new(_csrf_key(), cookie.encode(), sha256).hexdigest(), new


def csrf_valid(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or len(cookie) > 64:
        return False
    expected = hmac.new(_csrf_key(), cookie.encode(), sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), submitted.encode())  # bytes: any input compares


def safe_next(value: str | None, default: str = "/account") -> str:
    """Where to go after signing in: only Keel's own authorize and account pages (no open redirect)."""
    if not value or len(value) > 4096:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(SAFE_NEXT_PREFIXES) or "\\" in value:
        return default
    return value


def render(
    request: Request, template: str, *, status: int = 200, form_target: str | None = None, **context: Any
) -> HTMLResponse:
    """A page with a fresh CSP nonce and this browser's CSRF token.

    `form_target`: an origin a form on the page may end up at (browsers apply `form-action` to the
    redirect after a POST, e.g. back to an OAuth client).
    """
    nonce = secrets.token_urlsafe(16)
    token, new_cookie = csrf_token(request)
    body = _templates.get_template(template).render(csrf=token, nonce=nonce, **context)
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        f"form-action 'self'{' ' + form_target if form_target else ''}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    if new_cookie:
        set_cookie(response, CSRF_COOKIE, new_cookie)
    return response


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (file parts are ignored)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def sign_in_rate_limited(request: Request, template: str, **context: Any) -> HTMLResponse | None:
    """The page again with 429 when this address has posted too many sign-in forms; else None."""
    try:
        await get_rate_limiter().hit(
            f"sign-in:{client_address(request)}", limit(get_settings().rate_limit_sign_in)
        )
    except Problem as refused:
        page = render(request, template, status=429, error=refused.detail, **context)
        page.headers["Retry-After"] = refused.headers.get("Retry-After", "60")
        return page
    return None


def see_other(location: str) -> RedirectResponse:
    """After a form POST: 303, so the browser follows with GET."""
    response = RedirectResponse(location, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response
