"""Onboarding spans two domains: the organisation itself and its first API key."""

from __future__ import annotations

from keel.core.platform import PlatformUnitOfWork
from keel.identity.service import issue_api_key
from keel.models import Organization
from keel.organizations.service import create_organization


async def onboard_organization(uow: PlatformUnitOfWork, name: str, slug: str) -> tuple[Organization, str]:
    """Create an organisation and its first API key; returns the key's secret (shown once)."""
    org = await create_organization(uow, name, slug)
    await uow.enter_tenant(org.id, actor=uow.actor)
    _, secret = await issue_api_key(uow, "Initial key", created_by=uow.actor or "platform")
    return org, secret
