from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from keel.core.fields import CustomValues, ExternalId, Name, Tag
from keel.core.money import Currency, MinorUnits

Outcome = Literal["open", "won", "lost"]
Source = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")]
LostReason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class DealCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme GmbH - 200 seats",
                    "account_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "primary_contact_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                    "amount_minor": 2400000,
                    "currency": "EUR",
                    "expected_close_date": "2027-03-31",
                    "source": "referral",
                }
            ]
        },
    )

    name: Name
    account_id: UUID
    primary_contact_id: UUID | None = Field(default=None, description="A contact of the deal's account")
    pipeline_id: UUID | None = Field(default=None, description="Defaults to the organisation's default")
    stage_id: UUID | None = Field(default=None, description="A stage of the pipeline; defaults to its first")
    amount_minor: MinorUnits = 0
    currency: Currency | None = Field(default=None, description="Defaults to the organisation's currency")
    expected_close_date: date | None = None
    source: Source | None = None
    lost_reason: LostReason | None = Field(default=None, description="Required when created lost")
    owner_id: UUID | None = Field(default=None, description="A member; defaults to the caller")
    assignee_id: UUID | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    custom: CustomValues = Field(default_factory=dict, description="Custom field values, by key")
    external_id: ExternalId | None = None


class DealPatch(BaseModel):
    """Moving to a stage of another pipeline names both `pipeline_id` and `stage_id`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"stage_id": "a1b2c3d4-e5f6-4789-8abc-def012345678", "amount_minor": 2600000}]
        },
    )

    name: Name | None = None
    account_id: UUID | None = None
    primary_contact_id: UUID | None = None
    pipeline_id: UUID | None = None
    stage_id: UUID | None = None
    amount_minor: MinorUnits | None = None
    currency: Currency | None = None
    expected_close_date: date | None = None
    source: Source | None = None
    lost_reason: LostReason | None = None
    owner_id: UUID | None = None
    assignee_id: UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    custom: CustomValues | None = Field(default=None, description="Changes these values; null removes one")
    external_id: ExternalId | None = None


class DealOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9b2d4f1e-8c3a-4e5b-a7d6-1f0e2c3b4a59",
                    "name": "Acme GmbH - 200 seats",
                    "account_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "primary_contact_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                    "pipeline_id": "5e8d1c2b-7a6f-4b3e-9d2c-8f1a0e7b6c54",
                    "stage_id": "a1b2c3d4-e5f6-4789-8abc-def012345678",
                    "status": "open",
                    "amount_minor": 2400000,
                    "currency": "EUR",
                    "expected_close_date": "2027-03-31",
                    "source": "referral",
                    "lost_reason": None,
                    "owner_id": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "assignee_id": "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
                    "tags": [],
                    "custom": {},
                    "external_id": "SF-OPP-7731",
                    "assignment_rule_id": "2c4e6a8b-0d1f-4e3a-8b5c-7d9e1f3a5b7c",
                    "version": 1,
                    "created_at": "2026-11-03T14:00:00Z",
                    "updated_at": "2026-11-03T14:00:00Z",
                    "stage_entered_at": "2026-11-03T14:00:00Z",
                    "closed_at": None,
                }
            ]
        }
    )

    id: UUID
    name: str
    account_id: UUID
    primary_contact_id: UUID | None
    pipeline_id: UUID
    stage_id: UUID
    status: Outcome = Field(description="The outcome of the deal's stage")
    amount_minor: int | None = Field(description="Hidden (null) without `deal_amounts:read`")
    currency: str | None = Field(description="Hidden (null) without `deal_amounts:read`")
    expected_close_date: date | None
    source: str | None
    lost_reason: str | None
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
    stage_entered_at: datetime
    closed_at: datetime | None


class StageChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_stage_id: UUID | None
    to_stage_id: UUID
    changed_by: UUID | None = Field(description="The member who moved it; null for an API key")
    changed_at: datetime


class DealFilter(BaseModel):
    custom: dict[str, str] = Field(default_factory=dict)
    owner_id: UUID | None = None
    account_id: UUID | None = None
    pipeline_id: UUID | None = None
    stage_id: UUID | None = None
    status: Outcome | None = None
    tag: str | None = None
    close_from: date | None = None
    close_to: date | None = None
