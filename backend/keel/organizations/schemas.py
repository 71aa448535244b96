from __future__ import annotations

from datetime import datetime
from ipaddress import ip_network
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from keel.core.fields import Locale, Name, TimeZone
from keel.core.money import Currency


def _network(value: str) -> str:
    try:
        return str(ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError("not an IP address or CIDR range, e.g. 203.0.113.0/24") from exc


Domain = Annotated[
    str,
    Field(min_length=4, max_length=253, pattern=r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"),
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
]
Network = Annotated[str, Field(max_length=50), AfterValidator(_network)]

Month = Annotated[int, Field(ge=1, le=12)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]


class OrganizationSettings(BaseModel):
    # Read from the database: a setting retired from the schema must not break reading the rest.
    model_config = ConfigDict(extra="ignore")

    default_currency: Currency = "EUR"
    time_zone: TimeZone = "UTC"
    locale: Locale = "en-GB"
    fiscal_year_start_month: Month = 1
    mfa_required: bool = False  # members must use a second factor to get tokens for this organisation
    ip_allowlist: list[Network] = Field(default_factory=list, max_length=100)  # empty: from anywhere
    plan: str = "standard"  # set by the platform (`keel orgs plan`), not by the organisation
    invitation_domains: list[Domain] = Field(default_factory=list, max_length=50)  # empty: any domain
    # How long a sign-in lasts in apps (a refresh-token family), capped by KEEL_REFRESH_TOKEN_DAYS.
    refresh_token_days: int | None = Field(default=None, ge=1, le=365)
    # How old a browser sign-in may be to get tokens here, capped by KEEL_LOGIN_SESSION_HOURS.
    session_hours: int | None = Field(default=None, ge=1, le=720)


class OrganizationSettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_currency: Currency | None = None
    time_zone: TimeZone | None = None
    locale: Locale | None = None
    fiscal_year_start_month: Month | None = None
    mfa_required: bool | None = None
    ip_allowlist: list[Network] | None = Field(
        default=None, max_length=100, description="Networks the API and sign-in accept; [] lifts the limit"
    )
    invitation_domains: list[Domain] | None = Field(
        default=None, max_length=50, description="E-mail domains invitations may go to; [] allows any"
    )
    refresh_token_days: int | None = Field(
        default=None, ge=1, le=365, description="How long a sign-in lasts in apps (capped by the platform)"
    )
    session_hours: int | None = Field(
        default=None,
        ge=1,
        le=720,
        description="How old a browser sign-in may be to get tokens for this organisation; older ones "
        "sign in again (capped by the platform)",
    )


class OrganizationPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Acme Sales", "settings": {"time_zone": "Europe/Berlin", "default_currency": "EUR"}},
                {"settings": {"mfa_required": True, "invitation_domains": ["acme.de"]}},
            ]
        },
    )

    name: Name | None = None
    settings: OrganizationSettingsPatch | None = None


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: Slug


class OrganizationOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c9a52-3b7e-4d2a-9c1f-2a8e5b7d4c10",
                    "name": "Acme Sales",
                    "slug": "acme",
                    "status": "active",
                    "settings": {
                        "default_currency": "EUR",
                        "time_zone": "Europe/Berlin",
                        "locale": "de-DE",
                        "fiscal_year_start_month": 1,
                        "mfa_required": False,
                        "ip_allowlist": [],
                        "plan": "standard",
                        "invitation_domains": ["acme.de"],
                        "refresh_token_days": None,
                        "session_hours": None,
                    },
                    "version": 4,
                    "created_at": "2026-10-01T08:00:00Z",
                    "updated_at": "2026-11-20T16:45:00Z",
                }
            ]
        },
    )

    id: UUID
    name: str
    slug: str
    status: str
    settings: OrganizationSettings
    version: int
    created_at: datetime
    updated_at: datetime
