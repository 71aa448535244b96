"""Every API route declares one permission; each role gets exactly what the matrix grants, on every route."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from joserfc.jwk import ECKey
from starlette.routing import BaseRoute

from keel.access.dependencies import Authorization
from keel.access.permissions import (
    API_KEY_PERMISSIONS,
    FIELD_PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    Permission,
    permissions_markdown,
)
from keel.core.config import get_settings
from keel.core.keyring import get_key_ring
from keel.core.platform import platform_unit_of_work
from keel.identity.signing_keys import current_signing_key, rotate_signing_key
from keel.identity.tokens import AccessToken, issue_access_token
from keel.main import API_PREFIX, create_app
from tests.conftest import Org

REPO = Path(__file__).resolve().parents[3]

# Routes outside /api/v1 that anyone may call, each for a reason.
PUBLIC_ROUTES = {
    "/healthz": "liveness probe",
    "/readyz": "readiness probe",
    "/metrics": "Prometheus scrape (bind it to a private network)",
    "/.well-known/jwks.json": "public signing keys",
    "/.well-known/oauth-authorization-server": "authorization server metadata",
    "/oauth/token": "OAuth: clients authenticate inside the protocol",
    "/oauth/revoke": "OAuth: clients authenticate inside the protocol",
    "/oauth/authorize": "OAuth: the user signs in on the way",
    "/login": "sign-in page",
    "/login/mfa": "second factor (needs the password step's session)",
    "/logout": "sign-out",
    "/account": "own account (needs a session)",
    "/account/mfa": "own MFA (needs a session)",
    "/account/mfa/backup-codes": "own backup codes (needs a recent session)",
    "/account/password": "own password (needs a recent session)",
    "/account/email": "own e-mail (needs a recent session)",
    "/account/email/verify": "e-mailed link",
    "/invitations/accept": "e-mailed link",
    "/password/forgot": "asks for an e-mailed link",
    "/password/reset": "e-mailed link",
    "/api/openapi.json": "the API description",
    "/api/docs": "the API description, rendered",
    "/api/docs/assets/{name}": "the rendered API description's scripts and styles",
    "/": "front door: what this instance is, with links to sign-in and the API description",
}


def _permissions_of(route: Route) -> list[Permission]:
    found: list[Permission] = []
    pending = [route.route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, Authorization):
            found.append(dependant.call.permission)
        pending.extend(dependant.dependencies)
    return found


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    route: APIRoute


def _all_routes() -> list[tuple[str, BaseRoute]]:
    contexts = iter_route_contexts(create_app(get_settings()).router.routes)
    return [(c.path_format or "", c.original_route) for c in contexts]


def _api_routes() -> list[Route]:
    return [
        Route(path, method, route)
        for path, route in _all_routes()
        if path.startswith(API_PREFIX) and isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]


def test_the_permissions_page_is_generated_from_the_code() -> None:
    page = (REPO / "docs/security/permissions.md").read_text()
    assert page == permissions_markdown(), (
        "run: uv run --project backend keel permissions > docs/security/permissions.md"
    )


def test_every_api_route_declares_exactly_one_permission(test_database: object) -> None:
    routes = _api_routes()
    assert len(routes) >= 15
    undeclared = [(r.method, r.path) for r in routes if len(_permissions_of(r)) != 1]
    assert undeclared == []


def test_every_other_route_is_on_the_short_public_list(test_database: object) -> None:
    others = {path for path, _ in _all_routes()} - {r.path for r in _api_routes()}
    assert others - set(PUBLIC_ROUTES) == set()
    assert set(PUBLIC_ROUTES) - others == set(), "a public route that no longer exists: remove it here"


def test_every_permission_is_used_by_some_route_and_granted_to_some_role(test_database: object) -> None:
    used = {p for r in _api_routes() for p in _permissions_of(r)}
    assert used == set(Permission) - FIELD_PERMISSIONS
    assert not used & FIELD_PERMISSIONS
    assert all(any(p in granted for granted in ROLE_PERMISSIONS.values()) for p in Permission)


def _concrete_path(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)


@pytest.fixture
async def signing_key(app) -> ECKey:  # type: ignore[no-untyped-def]
    from keel.core import db as core_db

    async with platform_unit_of_work("tests") as uow:
        await rotate_signing_key(uow, get_key_ring())
    async with core_db.runtime_database().sessions() as session:
        key = await current_signing_key(session, get_key_ring())
    assert key is not None
    return key


CALLERS = [*ROLES, "api_key"]


@pytest.mark.parametrize("caller", CALLERS)
async def test_each_role_gets_exactly_its_permissions_on_every_route(
    client: httpx.AsyncClient, org_a: Org, signing_key: ECKey, caller: str
) -> None:
    """The matrix test: every (role, route) pair, compared with the matrix. Grows with the routes."""
    settings = get_settings()
    if caller == "api_key":
        headers, granted = org_a.headers, API_KEY_PERMISSIONS
    else:
        token = issue_access_token(
            AccessToken(
                subject=str(uuid.uuid4()), client_id="test-web", org_id=str(org_a.id), roles=(caller,)
            ),
            signing_key=signing_key,
            issuer=settings.issuer,
            audience=settings.api_audience,
        )
        headers, granted = {"Authorization": f"Bearer {token}"}, ROLE_PERMISSIONS[caller]
    for route in _api_routes():
        (permission,) = _permissions_of(route)
        body = {} if route.method in ("POST", "PATCH", "PUT") else None
        answer = await client.request(route.method, _concrete_path(route), headers=headers, json=body)
        refused = answer.status_code == 403
        assert refused == (permission not in granted), (caller, route.method, route.path, answer.text[:200])
