"""Every ORM model, one module per aggregate. Import from here so metadata is complete."""

from keel.models.access import Role, Team, TeamMember
from keel.models.account import Account
from keel.models.activity import Activity
from keel.models.api_key import ApiKey
from keel.models.assignment_rule import AssignmentRule
from keel.models.audit import AuditEvent, ComplianceExport, PlatformAuditEvent, SecurityEvent
from keel.models.base import Base, OwnedMixin
from keel.models.contact import Contact, ContactAccount
from keel.models.custom_field import CustomField
from keel.models.data_import import Import, ImportChange
from keel.models.deal import Deal, DealStageChange
from keel.models.idempotency import IdempotencyKey
from keel.models.lead import Lead
from keel.models.oauth import AuthorizationCode, OAuthClient, RefreshToken
from keel.models.organization import Organization
from keel.models.pipeline import Pipeline, Stage
from keel.models.saved_view import SavedView
from keel.models.signing_key import SigningKey
from keel.models.ticket import Ticket
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
