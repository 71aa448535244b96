"""The authorization server's HTTP face: /oauth/authorize, /oauth/token, /oauth/revoke.

Token and revocation answers follow RFC 6749 (`{"error": …}` JSON, `Cache-Control: no-store`), not
problem+json: OAuth clients and libraries expect that shape.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit
from uuid import UUID

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from keel.core.audit_trail import record_event
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.keyring import get_key_ring
from keel.core.org_policy import allowlist, org_policy, permits, sign_in_too_old
from keel.core.ratelimit import get_rate_limiter, limit
from keel.core.uow import UnitOfWork, UnitOfWorkRoute, UoW
from keel.identity import throttle
from keel.identity.authorization_server import Issuer, KeelAuthorizationServer
from keel.identity.browser import BrowserSession, csrf_valid, load_session, render, see_other
from keel.identity.dpop import InvalidProof, SharedStateReplayGuard, check_proof, server_nonces
from keel.identity.oauth_objects import Client, KeelRequest, OAuthResponse, RequestContext, ResourceOwner
from keel.identity.revocation import family_key, mark_revoked
from keel.identity.signing_keys import key_cache
from keel.identity.users import OrganizationChoice, my_organizations

router = APIRouter(prefix="/oauth", route_class=UnitOfWorkRoute, include_in_schema=False)

T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_ONLY_FIELDS = ("csrf", "org_id", "decision")


def _context(**kwargs: Any) -> RequestContext:
    settings = get_settings()
    return RequestContext(
        issuer=settings.issuer,
        audience=settings.api_audience,
        refresh_days=settings.refresh_token_days,
        **kwargs,
    )


MALFORMED = OAuthResponse(
    400,
    {
        "error": "invalid_request",
        "error_description": "The request contains characters OAuth does not allow.",
    },
    [],
)


async def _run(uow: UnitOfWork, ctx: RequestContext, call: Callable[[], T]) -> T | OAuthResponse:
    """Run Authlib (synchronous) on the request's own transaction."""

    def in_transaction(session: Session) -> T | OAuthResponse:
        ctx.session = session
        try:
            return call()
        except ValueError:  # Authlib refuses to echo control characters into an error description
            return MALFORMED

    return await uow.session.run_sync(in_transaction)


async def _settle(uow: UnitOfWork, ctx: RequestContext) -> None:
    """Finish what the grant left: security audit rows and revocation marks for the resource side."""
    if ctx.org_id is not None:
        uow.tenant_entered(ctx.org_id, user_id=ctx.user_id, actor=uow.actor or "oauth")
    for event in ctx.events:
        await record_event(
            uow, event.action, entity_type=event.entity_type, entity_id=event.entity_id, after=event.detail
        )
    if ctx.revoked_families:
        await mark_revoked(get_shared_state(), [family_key(f) for f in ctx.revoked_families])
    uow.commit_despite_error = ctx.commit_despite_error


def _oauth_json(response: OAuthResponse) -> JSONResponse:
    headers = {k: v for k, v in response.headers if k.lower() != "content-type"}
    return JSONResponse(response.body, status_code=response.status, headers={**headers, **NO_STORE})


def _oauth_error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **headers},
    )


async def _form_values(request: Request) -> dict[str, list[str]] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
    return values


def _client_address(uow: UnitOfWork) -> str:
    return uow.client_ip or "unknown"


def _client_credentials(request: Request, values: dict[str, list[str]]) -> tuple[str | None, str | None]:
    """(client_id, client_secret) a confidential client presents, by HTTP Basic or in the form."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        return unquote_plus(client_id) or None, unquote_plus(secret) or None
    secret = (values.get("client_secret") or [""])[0]
    return ((values.get("client_id") or [""])[0] or None, secret) if secret else (None, None)


@router.post("/token")
async def token(request: Request, uow: UoW) -> Response:
    values = await _form_values(request)
    if values is None:
        return _oauth_error(400, "invalid_request", "Send the request as application/x-www-form-urlencoded.")
    settings = get_settings()
    state = get_shared_state()
    try:
        await get_rate_limiter().hit(f"token:{_client_address(uow)}", limit(settings.rate_limit_token))
    except Problem as refused:
        retry = refused.headers.get("Retry-After", "60")
        return _oauth_error(
            429, "slow_down", "Too many token requests from this address.", **{"Retry-After": retry}
        )
    # Only a client secret can be guessed here (codes and refresh tokens are 256-bit): throttle per
    # confidential client and per address, never per public client, which all its users share.
    guessed, secret = _client_credentials(request, values)
    try:
        await throttle.check(state, "token", guessed, _client_address(uow))
    except Problem as refused:
        retry = (refused.headers or {}).get("Retry-After", "60")
        return _oauth_error(429, "slow_down", "Too many failed token requests.", **{"Retry-After": retry})

    dpop_jkt = None
    if "dpop" in request.headers:
        nonce, previous = server_nonces(settings.dpop_nonce_required, get_key_ring().derive("dpop-nonce"))
        try:
            proof = await check_proof(
                request.headers["dpop"],
                method="POST",
                url=settings.issuer + "/oauth/token",
                replay=SharedStateReplayGuard(state),
                nonce=nonce,
                previous_nonce=previous,
            )
        except InvalidProof as exc:
            if exc.use_nonce:
                return _oauth_error(400, "use_dpop_nonce", str(exc), **{"DPoP-Nonce": exc.use_nonce})
            return _oauth_error(400, "invalid_dpop_proof", str(exc))
        dpop_jkt = proof.jkt
    signing_key = await key_cache.signing_key(uow.session, get_key_ring())
    if signing_key is None:
        return _oauth_error(503, "temporarily_unavailable", "The server has no signing key yet.")

    ctx = _context(signing_key=signing_key, dpop_jkt=dpop_jkt, presented_secret=secret)
    server = KeelAuthorizationServer(ctx)
    oauth_request = KeelRequest("POST", settings.issuer + "/oauth/token", request.headers, values)
    result: OAuthResponse = await _run(uow, ctx, lambda: server.create_token_response(oauth_request))
    if result.status == 200 and ctx.org_id and not permits(await allowlist(uow, ctx.org_id), uow.client_ip):
        return _oauth_error(403, "access_denied", "The organisation does not allow this network address.")
    await _settle(uow, ctx)
    if result.status >= 400:
        await throttle.failed(state, "token", guessed, _client_address(uow))
    return _oauth_json(result)


@router.post("/revoke")
async def revoke(request: Request, uow: UoW) -> Response:
    values = await _form_values(request)
    if values is None:
        return _oauth_error(400, "invalid_request", "Send the request as application/x-www-form-urlencoded.")
    settings = get_settings()
    keys = key_cache.cached_verification_keys() or await key_cache.load_verification_keys(uow.session)
    ctx = _context(verification_keys=keys)
    server = KeelAuthorizationServer(ctx)
    oauth_request = KeelRequest("POST", settings.issuer + "/oauth/revoke", request.headers, values)
    result: OAuthResponse = await _run(
        uow, ctx, lambda: server.create_endpoint_response("revocation", oauth_request)
    )
    await _settle(uow, ctx)
    return _oauth_json(result)


def _with_issuer(server: KeelAuthorizationServer, response: OAuthResponse) -> OAuthResponse:
    """RFC 9207 `iss` on an error redirect (Authlib adds it only to responses it creates itself)."""
    Issuer(server.ctx.issuer).add_issuer_parameter(server, response)
    return response


def _redirect(response: OAuthResponse, *, after_post: bool) -> Response:
    location = response.location
    assert location is not None, "callers send errors without a redirect URI to the error page"
    redirect = RedirectResponse(location, status_code=303 if after_post else 302)
    redirect.headers["Cache-Control"] = "no-store"
    return redirect


def _error_page(request: Request, response: OAuthResponse) -> Response:
    body = response.body if isinstance(response.body, dict) else {}
    return render(
        request,
        "message.html",
        status=400,
        title="This sign-in link is not valid",
        message=body.get("error_description") or "The application sent an invalid request.",
    )


@router.api_route("/authorize", methods=["GET", "POST"])
async def authorize(request: Request, uow: UoW) -> Response:
    """Authorization code + PKCE (S256). Invalid client or redirect URI: an error page, never a redirect."""
    settings = get_settings()
    after_post = request.method == "POST"
    if after_post:
        form = await _form_values(request)
        if form is None or not csrf_valid(request, (form.get("csrf") or [""])[0]):
            return render(
                request,
                "message.html",
                status=403,
                title="This form expired",
                message="Go back and try again.",
            )
        values = {k: v for k, v in form.items() if k not in FORM_ONLY_FIELDS}
    else:
        form = {}
        values = parse_qs(request.url.query, keep_blank_values=True)

    ctx = _context()
    server = KeelAuthorizationServer(ctx)
    oauth_request = KeelRequest(request.method, settings.issuer + "/oauth/authorize", request.headers, values)

    def validate() -> Any:
        try:
            return server.get_consent_grant(oauth_request, end_user=None)
        except OAuth2Error as error:
            error.state = oauth_request.payload.state
            return server.handle_error_response(oauth_request, error)

    grant = await _run(uow, ctx, validate)
    if isinstance(grant, OAuthResponse):
        if grant.location is None:
            return _error_page(request, grant)
        return _redirect(_with_issuer(server, grant), after_post=after_post)

    session = await load_session(uow, request)
    here = "/oauth/authorize?" + (request.url.query if not after_post else _query(values))
    if session is None or not session.complete:
        return see_other("/login?" + _query({"next": [here]}))
    if session.user.mfa_enrolment_required:
        return see_other("/account/mfa?" + _query({"next": [here]}))

    organizations = await my_organizations(uow)
    chosen = _chosen_organization(organizations, (form.get("org_id") or [""])[0])
    client: Client = oauth_request.client
    redirect_origin = _origin(oauth_request.payload.redirect_uri or client.get_default_redirect_uri() or "")
    if not organizations:
        return render(
            request,
            "message.html",
            status=403,
            title="No organisation",
            message="Your account is not a member of any organisation yet.",
        )
    if chosen is None:
        return render(
            request,
            "organizations.html",
            organizations=organizations,
            params=_hidden(values),
            form_target=redirect_origin,
        )
    if chosen.mfa_required and not session.user.has_mfa:
        return see_other("/account/mfa?" + _query({"next": [here]}))

    decision = (form.get("decision") or [""])[0]
    if not client.row.first_party and decision not in ("allow", "deny"):
        return render(
            request,
            "consent.html",
            client_name=client.row.name,
            scope=oauth_request.scope or "",
            organization=chosen,
            params=_hidden(values),
            form_target=redirect_origin,
        )
    owner = None
    if client.row.first_party or decision == "allow":
        await uow.enter_tenant(chosen.org_id, user_id=session.user.id, actor=f"user:{session.user.id}")
        policy = await org_policy(uow, chosen.org_id)
        if not permits(policy.ip_allowlist, uow.client_ip):
            return render(
                request,
                "message.html",
                status=403,
                title="Not from this network",
                message=f"{chosen.name} allows sign-in only from its own networks.",
            )
        if sign_in_too_old(policy, session.row.password_at):
            return see_other("/login?" + _query({"next": [here]}))
        owner = _owner(session, chosen)
    result = await _run(
        uow, ctx, lambda: server.create_authorization_response(oauth_request, grant_user=owner, grant=grant)
    )
    if result.location is None:
        return _error_page(request, result)
    return _redirect(result, after_post=after_post)


def _owner(session: BrowserSession, chosen: OrganizationChoice) -> ResourceOwner:
    return ResourceOwner(session.user.id, chosen.org_id, session.row.mfa_at or session.row.password_at)


def _chosen_organization(
    organizations: list[OrganizationChoice], picked: str | None
) -> OrganizationChoice | None:
    if picked:
        try:
            wanted = UUID(picked)
        except ValueError:
            return None
        return next((o for o in organizations if o.org_id == wanted), None)
    return organizations[0] if len(organizations) == 1 else None


def _query(values: dict[str, list[str]]) -> str:
    return urlencode([(k, v) for k, vs in values.items() for v in vs])


def _hidden(values: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, vs in values.items() for v in vs]


def _origin(uri: str) -> str | None:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
