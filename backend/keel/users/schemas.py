from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from keel.organizations.schemas import Locale, Name, TimeZone

# A built-in role or one of the organisation's own (checked against them when saved).
Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    role: Role


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class MemberOut(BaseModel):
    user_id: UUID
    email: str
    name: str
    role: Role
    mfa_enrolled: bool
    joined_at: datetime
    last_login_at: datetime | None


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    name: str
    locale: str
    time_zone: str
    email_verified_at: datetime | None


class SecurityEventOut(BaseModel):
    """A sign-in, second-factor, password or e-mail event of the caller's own account."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    created_at: datetime
    action: str
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any] | None

    @field_validator("ip", mode="before")
    @classmethod
    def _address(cls, value: object) -> str | None:
        return None if value is None else str(value)


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
