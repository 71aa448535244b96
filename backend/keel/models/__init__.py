"""Every ORM model, one module per aggregate. Import from here so metadata is complete."""

from keel.models.access import Role, Team, TeamMember
from keel.models.api_key import ApiKey
from keel.models.audit import AuditEvent, ComplianceExport, PlatformAuditEvent, SecurityEvent
from keel.models.base import Base, OwnedMixin
from keel.models.crm import (
    Account,
    Activity,
    AssignmentRule,
    Contact,
    ContactAccount,
    CustomField,
    Deal,
    DealStageChange,
    Import,
    ImportChange,
    Lead,
    Pipeline,
    SavedView,
    Stage,
    Ticket,
)
from keel.models.idempotency import IdempotencyKey
from keel.models.oauth import AuthorizationCode, OAuthClient, RefreshToken
from keel.models.organization import Organization
from keel.models.signing_key import SigningKey
from keel.models.user import Invitation, LoginSession, Membership, User, UserToken

__all__ = [
    "Account",
    "Activity",
    "ApiKey",
    "AssignmentRule",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "ComplianceExport",
    "Contact",
    "ContactAccount",
    "CustomField",
    "Deal",
    "DealStageChange",
    "IdempotencyKey",
    "Import",
    "ImportChange",
    "Invitation",
    "Lead",
    "LoginSession",
    "Membership",
    "OAuthClient",
    "Organization",
    "Pipeline",
    "PlatformAuditEvent",
    "RefreshToken",
    "Role",
    "SavedView",
    "SecurityEvent",
    "SigningKey",
    "Stage",
    "Team",
    "TeamMember",
    "Ticket",
    "User",
    "UserToken",
    "owned_models",
]


def owned_models() -> list[type[OwnedMixin]]:
    """Every owned record type (Account, Contact, Deal, …), by name."""
    owned = [m.class_ for m in Base.registry.mappers if issubclass(m.class_, OwnedMixin)]
    return sorted(owned, key=lambda model: model.__name__)
