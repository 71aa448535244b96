"""Demo data for `make dev`: an organisation, its API key, the web app's client, a user per role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from keel.core.config import Settings
from keel.core.db import runtime_database
from keel.core.keyring import get_key_ring
from keel.core.platform import platform_unit_of_work
from keel.core.uow import job_unit_of_work
from keel.identity.accounts import add_membership, create_user
from keel.identity.clients import WEB_APP_CLIENT_ID, register_client
from keel.identity.signing_keys import current_signing_key, rotate_signing_key
from keel.models import OAuthClient
from keel.models.user import ROLES
from keel.organizations import service as organizations
from keel.organizations.flows import onboard_organization

DEMO_SLUG = "demo"
DEMO_DOMAIN = "demo.keel.localhost"


@dataclass
class DemoSeed:
    created: bool
    api_key: str | None = None
    users: list[tuple[str, str, str]] = field(default_factory=list)  # (role, e-mail, password)


def demo_email(role: str) -> str:
    return f"{role.replace('_', '-')}@{DEMO_DOMAIN}"


async def seed_demo(settings: Settings, operator: str) -> DemoSeed:
    """Create what is missing (idempotent). Passwords are random and shown once, here."""
    async with runtime_database().sessions() as session:
        has_key = await current_signing_key(session, get_key_ring()) is not None
        has_client = await session.get(OAuthClient, WEB_APP_CLIENT_ID) is not None
    if not has_key:
        async with platform_unit_of_work(operator) as uow:
            await rotate_signing_key(uow, get_key_ring())
    if not has_client:
        callback = f"http://127.0.0.1:{settings.web_port}/auth/callback"
        async with platform_unit_of_work(operator) as uow:
            await register_client(uow, WEB_APP_CLIENT_ID, "Keel web app", [callback], first_party=True)
    async with platform_unit_of_work(operator) as uow:
        if any(o.slug == DEMO_SLUG for o in await organizations.list_organizations(uow)):
            return DemoSeed(created=False)
        org, api_key = await onboard_organization(uow, "Demo Company", DEMO_SLUG)
    seed = DemoSeed(created=True, api_key=api_key)
    for role in ROLES:
        password = secrets.token_urlsafe(12)
        async with job_unit_of_work(runtime_database(), org.id) as uow:
            user = await create_user(
                uow, demo_email(role), password, name=role.replace("_", " ").title(), verified=True
            )
            await add_membership(uow, user.id, role)
        seed.users.append((role, demo_email(role), password))
    return seed


def save_demo(seed: DemoSeed, data_dir: Path) -> None:
    """Keep the demo credentials under the data directory (owner-only), for `make dev` to show again."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if seed.api_key:
        _write_private(data_dir / "demo-api-key", seed.api_key + "\n")
    if seed.users:
        lines = [f"{role}\t{email}\t{password}" for role, email, password in seed.users]
        _write_private(data_dir / "demo-users", "\n".join(lines) + "\n")


def _write_private(path: Path, content: str) -> None:
    path.write_text(content)
    path.chmod(0o600)
