"""Onboarding a new organisation spans three domains: the organisation itself, its first API key and
its default sales pipeline."""

from __future__ import annotations

from keel.core.platform import PlatformUnitOfWork
from keel.identity.api_keys import issue_api_key
from keel.models import Organization
from keel.organizations.service import create_organization
from keel.pipelines.service import create_default_pipeline


async def onboard_organization(uow: PlatformUnitOfWork, name: str, slug: str) -> tuple[Organization, str]:
    """Create an organisation, its first API key and its default sales pipeline; returns the key's
    secret (shown once)."""
    org = await create_organization(uow, name, slug)
    await uow.enter_tenant(org.id, actor=uow.actor)
    _, secret = await issue_api_key(uow, "Initial key", created_by=uow.actor or "platform")
    pipeline = await create_default_pipeline(uow)
    uow.record_platform_action(
        "organization.default_pipeline_created", org_id=org.id, detail={"pipeline_id": str(pipeline.id)}
    )
    return org, secret
