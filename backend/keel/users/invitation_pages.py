"""The page an invitation's e-mailed link opens: join the organisation, with a new account or an
existing one, then sign in."""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import Response

from keel.core.cache import get_shared_state
from keel.core.errors import Problem
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.identity import throttle
from keel.identity.browser import (
    client_address,
    csrf_valid,
    form_fields,
    render,
    see_other,
    sign_in_rate_limited,
    start_session,
)
from keel.users.service import accept_invitation, has_account, open_invitation

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


@router.get("/invitations/accept")
async def invitation_page(request: Request, uow: UoW, token: str = "") -> Response:
    try:
        invitation = await open_invitation(uow, token)
    except Problem as gone:
        return render(request, "message.html", status=404, title="Invitation not valid", message=gone.detail)
    existing = await has_account(uow, invitation.email)
    return render(request, "invitation.html", token=token, email=invitation.email, existing=existing)


@router.post("/invitations/accept")
async def accept_invitation_page(request: Request, uow: UoW) -> Response:
    form = await form_fields(request)
    token = form.get("token", "")
    if limited := await sign_in_rate_limited(request, "message.html", title="Too many attempts", message=""):
        return limited
    if not csrf_valid(request, form.get("csrf")):
        return render(
            request, "message.html", status=403, title="This form expired", message="Open the link again."
        )
    state, address = get_shared_state(), client_address(request)
    try:
        await throttle.check(state, "invitation", token[:32], address)
        user = await accept_invitation(
            uow, token, password=form.get("password", "")[:1024], name=form.get("name", "")[:200].strip()
        )
    except Problem as refused:
        if refused.status == 400:
            await throttle.failed(state, "invitation", token[:32], address)
        invitation = None
        with suppress(Problem):
            invitation = await open_invitation(uow, token)
        if invitation is None:
            return render(
                request, "message.html", status=refused.status, title="Could not join", message=refused.detail
            )
        existing = await has_account(uow, invitation.email)
        return render(
            request,
            "invitation.html",
            status=refused.status,
            error=refused.detail,
            token=token,
            email=invitation.email,
            existing=existing,
        )
    response = see_other("/login/mfa?next=/account" if user.has_mfa else "/account")
    await start_session(uow, user, response, mfa_done=not user.has_mfa)
    return response
