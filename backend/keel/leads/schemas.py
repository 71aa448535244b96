from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from keel.contacts.schemas import Email, PersonName, Phone
from keel.core.fields import Country, CustomValues, ExternalId, Name, Tag, Text100
from keel.core.money import Currency, MinorUnits
from keel.deals.schemas import Source

Status = Literal["new", "working", "qualified", "disqualified", "converted"]
OpenStatus = Literal["new", "working", "qualified"]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class LeadCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "company": "Northgate Logistics",
                    "email": "grace@northgate-logistics.com",
                    "country": "GB",
                    "source": "webinar",
                }
            ]
        },
    )

    first_name: PersonName = ""
    last_name: PersonName = ""
    company: Name | None = None
    title: Text100 | None = None
    email: Email | None = None
    phone: Phone | None = Field(default=None, description="International, or national with country")
    country: Country | None = None
    source: Source | None = Field(default=None, description="Where the interest came from, e.g. webinar")
    status: OpenStatus = "new"
    owner_id: UUID | None = Field(default=None, description="A member; defaults to the caller")
    assignee_id: UUID | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    custom: CustomValues = Field(default_factory=dict, description="Custom field values, by key")
    external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _someone(self) -> LeadCreate:
        if not (self.last_name or self.company or self.email):
            raise ValueError("a lead needs at least a last_name, a company or an email")
        return self


class LeadPatch(BaseModel):
    """`status: disqualified` needs `disqualified_reason`; conversion has its own endpoint."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "qualified"},
                {"status": "disqualified", "disqualified_reason": "No budget this year"},
            ]
        },
    )

    first_name: PersonName | None = None
    last_name: PersonName | None = None
    company: Name | None = None
    title: Text100 | None = None
    email: Email | None = None
    phone: Phone | None = None
    country: Country | None = None
    source: Source | None = None
    status: Literal["new", "working", "qualified", "disqualified"] | None = None
    disqualified_reason: Reason | None = None
    owner_id: UUID | None = None
    assignee_id: UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    custom: CustomValues | None = Field(default=None, description="Changes these values; null removes one")
    external_id: ExternalId | None = None


class LeadFilter(BaseModel):
    custom: dict[str, str] = Field(default_factory=dict)
    owner_id: UUID | None = None
    status: Status | None = None
    source: str | None = None
    tag: str | None = None
    email: str | None = None


class LeadOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "c56a4180-65aa-42ec-a945-5fd21dec0538",
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "company": "Northgate Logistics",
                    "title": None,
                    "email": "grace@northgate-logistics.com",
                    "phone": None,
                    "country": "GB",
                    "source": "webinar",
                    "status": "new",
                    "disqualified_reason": None,
                    "owner_id": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "assignee_id": None,
                    "tags": [],
                    "custom": {},
                    "external_id": None,
                    "assignment_rule_id": None,
                    "version": 1,
                    "created_at": "2026-11-04T10:15:00Z",
                    "updated_at": "2026-11-04T10:15:00Z",
                    "converted_at": None,
                    "converted_by": None,
                    "account_id": None,
                    "contact_id": None,
                    "deal_id": None,
                }
            ]
        },
    )

    id: UUID
    first_name: str
    last_name: str
    company: str | None
    title: str | None
    email: str | None
    phone: str | None
    country: str | None
    source: str | None
    status: Status
    disqualified_reason: str | None
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
    converted_at: datetime | None
    converted_by: UUID | None
    account_id: UUID | None = Field(description="The account the lead became (or joined)")
    contact_id: UUID | None = Field(description="The contact the lead became")
    deal_id: UUID | None = Field(description="The deal opened when the lead was converted")


class ConversionDeal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, description="Defaults to the account's name")
    amount_minor: MinorUnits = 0
    currency: Currency | None = None
    pipeline_id: UUID | None = None
    stage_id: UUID | None = None
    expected_close_date: date | None = None


class LeadConversion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: UUID | None = Field(
        default=None, description="Join this existing account instead of creating one from `company`"
    )
    deal: ConversionDeal | None = Field(
        default_factory=ConversionDeal, description="The deal to open; null to open none"
    )


class ConversionOut(BaseModel):
    lead: LeadOut
    account_id: UUID | None
    contact_id: UUID | None
    deal_id: UUID | None
