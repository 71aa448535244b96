"""Composition root: every router the API serves and every module that defines jobs."""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from keel.access.endpoints import roles as roles_router
from keel.access.endpoints import teams as teams_router
from keel.accounts.endpoints import router as accounts_router
from keel.activities.endpoints import router as activities_router
from keel.assignment.endpoints import router as assignment_router
from keel.audit.endpoints import compliance_router
from keel.audit.endpoints import router as audit_router
from keel.contacts.endpoints import router as contacts_router
from keel.core.jobs import CORE_TASK_MODULES
from keel.core.openapi import document_operations
from keel.customfields.endpoints import router as custom_fields_router
from keel.deals.endpoints import router as deals_router
from keel.identity.account_pages import router as account_pages_router
from keel.identity.endpoints import router as api_keys_router
from keel.identity.front_door import router as front_door_router
from keel.identity.login_pages import router as login_pages_router
from keel.identity.oauth_endpoints import router as oauth_router
from keel.identity.profile_pages import router as profile_pages_router
from keel.identity.well_known import router as well_known_router
from keel.imports.endpoints import router as imports_router
from keel.leads.endpoints import router as leads_router
from keel.organizations.endpoints import router as organization_router
from keel.pipelines.endpoints import router as pipelines_router
from keel.search.endpoints import router as search_router
from keel.tickets.endpoints import router as tickets_router
from keel.users.endpoints import invitations as invitations_router
from keel.users.endpoints import me as profile_router
from keel.users.endpoints import members as members_router
from keel.users.invitation_pages import router as invitation_pages_router
from keel.views.endpoints import router as views_router

# Each route documents every status it can answer (keel.core.openapi), so the OpenAPI says what it does.
API_V1_ROUTERS: list[APIRouter] = document_operations(
    [
        organization_router,
        api_keys_router,
        audit_router,
        compliance_router,
        members_router,
        invitations_router,
        profile_router,
        roles_router,
        teams_router,
        accounts_router,
        contacts_router,
        pipelines_router,
        deals_router,
        leads_router,
        tickets_router,
        activities_router,
        assignment_router,
        custom_fields_router,
        search_router,
        views_router,
        imports_router,
    ]
)
# At the root: the front door, the authorization server (discovery, OAuth endpoints, sign-in pages)
# and the pages e-mailed links open.
ROOT_ROUTERS: list[APIRouter] = [
    front_door_router,
    well_known_router,
    oauth_router,
    login_pages_router,
    account_pages_router,
    invitation_pages_router,
    profile_pages_router,
]

# Each domain's tasks module joins this list when it has one.
TASK_MODULES: list[str] = [
    *CORE_TASK_MODULES,
    "keel.identity.tasks",
    "keel.audit.compliance",
    "keel.imports.tasks",
]


def load_task_modules() -> None:
    """Import every task module so the job app knows each task by name."""
    for module in TASK_MODULES:
        importlib.import_module(module)
