"""An organisation reads and changes its own profile and settings; the platform creates them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from keel.core import org_policy as org_policies
from keel.core.audit_trail import changed_fields, record_event
from keel.core.config import get_settings
from keel.core.errors import Problem, validation_problem
from keel.core.etag import stale
from keel.core.platform import PlatformUnitOfWork
from keel.core.uow import UnitOfWork
from keel.models import Organization
from keel.organizations import repository
from keel.organizations.schemas import OrganizationCreate, OrganizationPatch, OrganizationSettings


def _snapshot(org: Organization) -> dict[str, Any]:
    return {"name": org.name, "settings": dict(org.settings)}


async def get_own_organization(uow: UnitOfWork) -> Organization:
    org = await repository.get(uow.session, uow.tenant)
    if org is None:  # only when the organisation was removed while its key still worked
        raise Problem(404, "The organisation does not exist.")
    return org


async def update_organization(
    uow: UnitOfWork, patch: OrganizationPatch, *, expected_version: int
) -> Organization:
    org = await repository.get(uow.session, uow.tenant, for_update=True)
    if org is None:
        raise Problem(404, "The organisation does not exist.")
    if org.version != expected_version:
        raise stale()
    before = _snapshot(org)
    if patch.name is not None:
        org.name = patch.name
    if patch.settings is not None:
        merged = OrganizationSettings.model_validate(org.settings).model_dump()
        merged.update(patch.settings.model_dump(exclude_none=True))
        if not org_policies.permits(merged["ip_allowlist"], uow.client_ip):
            raise Problem(
                409,
                f"The allowlist must include the address you are using now ({uow.client_ip}), "
                "or you would lock yourself out.",
            )
        org.settings = merged
    old, new = changed_fields(before, _snapshot(org))
    if new:
        org.version += 1
        org.updated_at = datetime.now(UTC)
        await record_event(
            uow, "organization.updated", entity_type="organization", entity_id=org.id, before=old, after=new
        )
        org_policies.renew_after_commit(uow, org.id)
    return org


async def lift_ip_allowlist(uow: PlatformUnitOfWork, slug: str) -> Organization:
    """Recovery by a Super Admin: the organisation accepts every address again (audited)."""
    org = await _by_slug(uow, slug)
    lifted = org.settings.get("ip_allowlist", [])
    org.settings = {**org.settings, "ip_allowlist": []}
    org.version += 1
    uow.record_platform_action("organization.ip_allowlist_lifted", org_id=org.id, detail={"removed": lifted})
    org_policies.renew_after_commit(uow, org.id)
    return org


async def set_plan(uow: PlatformUnitOfWork, slug: str, plan: str) -> Organization:
    """The platform moves an organisation to another plan (its rate limit follows at once)."""
    if plan not in get_settings().plan_rate_limits:
        raise Problem(422, f"Unknown plan {plan!r}: one of {', '.join(get_settings().plan_rate_limits)}.")
    org = await _by_slug(uow, slug)
    before = org.settings.get("plan", org_policies.DEFAULT_PLAN)
    org.settings = {**org.settings, "plan": plan}
    org.version += 1
    uow.record_platform_action(
        "organization.plan_changed", org_id=org.id, detail={"from": before, "to": plan}
    )
    org_policies.renew_after_commit(uow, org.id)
    return org


async def _by_slug(uow: PlatformUnitOfWork, slug: str) -> Organization:
    org = next((o for o in await repository.list_all(uow.session) if o.slug == slug), None)
    if org is None:
        raise Problem(404, f"No organisation {slug!r}.")
    return org


async def create_organization(uow: PlatformUnitOfWork, name: str, slug: str) -> Organization:
    try:
        OrganizationCreate(name=name, slug=slug)
    except ValidationError as exc:
        raise validation_problem(exc, "The name or slug is invalid.") from exc
    if await repository.slug_taken(uow.session, slug):
        raise Problem(409, f"The slug {slug!r} is taken.", title="Slug taken")
    org = Organization(name=name, slug=slug, settings=OrganizationSettings().model_dump())
    uow.session.add(org)
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # another create took the slug between the check and the insert
        if getattr(exc.orig, "sqlstate", None) != "23505":
            raise
        raise Problem(409, f"The slug {slug!r} is taken.", title="Slug taken") from exc
    uow.record_platform_action("organization.created", org_id=org.id, detail={"name": name, "slug": slug})
    return org


async def list_organizations(uow: PlatformUnitOfWork) -> Sequence[Organization]:
    orgs = await repository.list_all(uow.session)
    uow.record_platform_action("organization.listed", detail={"count": len(orgs)})
    return orgs
