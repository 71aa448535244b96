"""Every ORM model, one module per aggregate. Import from here so metadata is complete."""

from keel.models.api_key import ApiKey
from keel.models.audit import AuditEvent, PlatformAuditEvent
from keel.models.base import Base
from keel.models.idempotency import IdempotencyKey
from keel.models.organization import Organization
from keel.models.signing_key import SigningKey

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "IdempotencyKey",
    "Organization",
    "PlatformAuditEvent",
    "SigningKey",
]
