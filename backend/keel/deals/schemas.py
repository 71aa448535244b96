from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from keel.accounts.schemas import Tag
from keel.core.money import Currency, MinorUnits
from keel.customfields.schemas import CustomValues, ExternalId
from keel.organizations.schemas import Name

Outcome = Literal["open", "won", "lost"]
Source = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")]
LostReason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class DealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    model_config = ConfigDict(extra="forbid")

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
