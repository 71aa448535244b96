from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from keel.core.fields import Country, Text100
from keel.core.money import Currency, MinorUnits

RecordType = Literal["lead", "account", "contact", "deal"]


class RuleFields(BaseModel):
    countries: list[Country] | None = Field(default=None, max_length=250, description="Empty: any")
    currency: Currency | None = Field(default=None, description="Deals: the band's currency")
    min_amount_minor: MinorUnits | None = None
    max_amount_minor: MinorUnits | None = None
    owner_id: UUID | None = Field(default=None, description="Give every matching record to this member")
    team_id: UUID | None = Field(default=None, description="Or to this team's members, in turn")
    active: bool | None = None


class RuleCreate(RuleFields):
    model_config = ConfigDict(extra="forbid")

    name: Text100
    record_type: RecordType
    position: int | None = Field(default=None, ge=1, le=1000, description="1 is first; defaults to last")

    @model_validator(mode="after")
    def _shape(self) -> RuleCreate:
        if (self.owner_id is None) == (self.team_id is None):
            raise ValueError("give either owner_id or team_id")
        return self


class RulePatch(RuleFields):
    model_config = ConfigDict(extra="forbid")

    name: Text100 | None = None
    position: int | None = Field(default=None, ge=1, le=1000)


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    record_type: RecordType
    position: int
    active: bool
    countries: list[str]
    currency: str | None
    min_amount_minor: int | None
    max_amount_minor: int | None
    owner_id: UUID | None
    team_id: UUID | None
    last_user_id: UUID | None = Field(description="Whose turn it was last (team rules)")
    version: int
    created_at: datetime
