from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from keel.organizations.schemas import Locale, Name, TimeZone

Role = Literal["org_admin", "manager", "sales_rep", "finance", "support"]


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


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
