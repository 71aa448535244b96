"""Every ORM model, one module per aggregate. Import from here so metadata is complete."""

from keel.models.access import Role, Team, TeamMember
from keel.models.api_key import ApiKey
from keel.models.audit import AuditEvent, ComplianceExport, PlatformAuditEvent, SecurityEvent
from keel.models.base import Base
from keel.models.crm import Account, Contact, ContactAccount, Pipeline, Stage
from keel.models.idempotency import IdempotencyKey
from keel.models.oauth import AuthorizationCode, OAuthClient, RefreshToken
from keel.models.organization import Organization
from keel.models.signing_key import SigningKey
from keel.models.user import Invitation, LoginSession, Membership, User, UserToken

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "ComplianceExport",
    "Contact",
    "ContactAccount",
    "IdempotencyKey",
    "Invitation",
    "LoginSession",
    "Membership",
    "OAuthClient",
    "Organization",
    "Pipeline",
    "PlatformAuditEvent",
    "RefreshToken",
    "Role",
    "SecurityEvent",
    "SigningKey",
    "Stage",
    "Team",
    "TeamMember",
    "User",
    "UserToken",
]
