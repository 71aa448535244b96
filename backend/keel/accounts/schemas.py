from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from keel.core.fields import Country, CustomValues, ExternalId, Name, Tag, Text100

Lifecycle = Literal["prospect", "customer", "churned"]
CompanySize = Literal["1-10", "11-50", "51-200", "201-1000", "1001+"]
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def _domain(value: str) -> str:
    """A bare host name, lower-cased: `https://www.Acme.com/about` is refused, `acme.com` kept."""
    host = value.strip().lower().removeprefix("www.")
    if not _HOSTNAME.match(host):
        raise ValueError("must be a domain name such as acme.com (no scheme, path or port)")
    return host


Domain = Annotated[str, Field(max_length=253), AfterValidator(_domain)]


class AccountCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme GmbH",
                    "domain": "acme.de",
                    "industry": "Industrial machinery",
                    "size": "51-200",
                    "country": "DE",
                    "tags": ["enterprise"],
                    "external_id": "SF-001234",
                }
            ]
        },
    )

    name: Name
    domain: Domain | None = None
    industry: Text100 | None = None
    size: CompanySize | None = None
    country: Country | None = None
    lifecycle_stage: Lifecycle = "prospect"
    owner_id: UUID | None = Field(default=None, description="A member; defaults to the caller")
    assignee_id: UUID | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    custom: CustomValues = Field(default_factory=dict, description="Custom field values, by key")
    external_id: ExternalId | None = None


class AccountPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"lifecycle_stage": "customer", "tags": ["enterprise", "renewal-2027"]}]
        },
    )

    name: Name | None = None
    domain: Domain | None = None
    industry: Text100 | None = None
    size: CompanySize | None = None
    country: Country | None = None
    lifecycle_stage: Lifecycle | None = None
    owner_id: UUID | None = None
    assignee_id: UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    custom: CustomValues | None = Field(default=None, description="Changes these values; null removes one")
    external_id: ExternalId | None = None


class AccountOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "name": "Acme GmbH",
                    "domain": "acme.de",
                    "industry": "Industrial machinery",
                    "size": "51-200",
                    "country": "DE",
                    "lifecycle_stage": "prospect",
                    "owner_id": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "assignee_id": "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
                    "tags": ["enterprise"],
                    "custom": {"tier": "gold"},
                    "external_id": "SF-001234",
                    "assignment_rule_id": "2c4e6a8b-0d1f-4e3a-8b5c-7d9e1f3a5b7c",
                    "version": 1,
                    "created_at": "2026-11-02T09:30:00Z",
                    "updated_at": "2026-11-02T09:30:00Z",
                }
            ]
        },
    )

    id: UUID
    name: str
    domain: str | None
    industry: str | None
    size: str | None
    country: str | None
    lifecycle_stage: Lifecycle
    owner_id: UUID
    assignee_id: UUID | None
    tags: list[str]
    custom: dict[str, Any]
    external_id: str | None = Field(description="Its id in the system it came from; unique here")
    assignment_rule_id: UUID | None = Field(
        description="The assignment rule that chose the owner, if one did"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class AccountFilter(BaseModel):
    custom: dict[str, str] = Field(default_factory=dict)
    owner_id: UUID | None = None
    lifecycle_stage: Lifecycle | None = None
    tag: str | None = None
    domain: str | None = None


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_id: UUID = Field(description="The record merged into this one, then deleted")
