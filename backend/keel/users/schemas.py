from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from keel.core.fields import Locale, Name, TimeZone

# A built-in role or one of the organisation's own (checked against them when saved).
Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ben@acme.de", "role": "sales_rep"}]}
    )

    email: str = Field(min_length=3, max_length=254)
    role: Role


class InvitationOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "4b6f0d8e-2c1a-4e9b-b7d3-6a5c8e0f1d29",
                    "email": "ben@acme.de",
                    "role": "sales_rep",
                    "invited_by": "user:1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "created_at": "2026-11-05T11:00:00Z",
                    "expires_at": "2026-11-12T11:00:00Z",
                    "accepted_at": None,
                    "revoked_at": None,
                }
            ]
        },
    )

    id: UUID
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class MemberOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "email": "anna@acme.de",
                    "name": "Anna Schmidt",
                    "role": "org_admin",
                    "mfa_enrolled": True,
                    "joined_at": "2026-10-01T08:00:00Z",
                    "last_login_at": "2026-11-20T07:58:00Z",
                }
            ]
        }
    )

    user_id: UUID
    email: str
    name: str
    role: Role
    mfa_enrolled: bool
    joined_at: datetime
    last_login_at: datetime | None


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "manager"}]})

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
