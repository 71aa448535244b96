"""Platform actions, recorded in the platform audit log: `keel orgs`, `keel users`, `keel keys`."""

from __future__ import annotations

import typer
from rich.table import Table

from keel.cli.common import console, run_platform_action
from keel.core.keyring import get_key_ring
from keel.identity.signing_keys import rotate_signing_key
from keel.identity.users import set_disabled
from keel.onboarding.flows import onboard_organization
from keel.organizations import service as organizations

orgs = typer.Typer(help="Platform actions on organisations (audited).", no_args_is_help=True)
users = typer.Typer(help="Platform actions on user accounts (audited).", no_args_is_help=True)
keys = typer.Typer(help="The authorization server's signing keys (audited).", no_args_is_help=True)


@orgs.command("create")
def create_org(name: str, slug: str) -> None:
    """Create an organisation and print its first API key (shown once)."""
    org, secret = run_platform_action(lambda uow: onboard_organization(uow, name, slug))
    console.print(f"organisation {org.id}\nAPI key (shown once): {secret}")


@orgs.command("list")
def list_orgs() -> None:
    """List every organisation."""
    table = Table("id", "slug", "name", "status")
    for o in run_platform_action(organizations.list_organizations):
        table.add_row(str(o.id), o.slug, o.name, o.status)
    console.print(table)


@orgs.command("lift-allowlist")
def lift_allowlist(slug: str) -> None:
    """Recovery: let an organisation's API and sign-in accept every address again (audited)."""
    run_platform_action(lambda uow: organizations.lift_ip_allowlist(uow, slug))
    console.print(f"{slug}: IP allowlist lifted")


@orgs.command("plan")
def set_org_plan(slug: str, plan: str) -> None:
    """Move an organisation to another plan; its rate limit follows (audited)."""
    run_platform_action(lambda uow: organizations.set_plan(uow, slug, plan))
    console.print(f"{slug}: plan {plan}")


@keys.command("rotate")
def rotate_keys() -> None:
    """Sign new access tokens with a fresh key; the old one verifies until its tokens expire."""
    key = run_platform_action(lambda uow: rotate_signing_key(uow, get_key_ring()))
    console.print(f"now signing with key {key.kid}")


def _set_disabled(email: str, *, disabled: bool) -> None:
    run_platform_action(lambda uow: set_disabled(uow, email, disabled=disabled))
    console.print(f"{email} {'disabled: sessions and tokens ended' if disabled else 'enabled'}")


@users.command("disable")
def disable_user(email: str) -> None:
    """Disable an account in every organisation; its sessions and tokens stop working at once."""
    _set_disabled(email, disabled=True)


@users.command("enable")
def enable_user(email: str) -> None:
    """Let a disabled account sign in again (old sessions and tokens stay dead)."""
    _set_disabled(email, disabled=False)
