from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from keel.core.fields import Text100

RecordType = Literal["account", "contact", "deal", "lead"]
FieldType = Literal["text", "number", "date", "boolean", "select"]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="e.g. `tier`; used in filters")]


class FieldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_type: RecordType
    key: Key
    label: Text100
    type: FieldType
    options: list[Text100] = Field(default_factory=list, max_length=100, description="For `select`")

    @model_validator(mode="after")
    def _options(self) -> FieldCreate:
        if (self.type == "select") != bool(self.options):
            raise ValueError("options are required for a select field, and only for one")
        if len(set(self.options)) != len(self.options):
            raise ValueError("options must be different from each other")
        return self


class FieldPatch(BaseModel):
    """The type and key of a field stay; create another field for another type."""

    model_config = ConfigDict(extra="forbid")

    label: Text100 | None = None
    options: list[Text100] | None = Field(default=None, max_length=100)


class FieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    record_type: RecordType
    key: str
    label: str
    type: FieldType
    options: list[str]
    version: int
    created_at: datetime


MAX_FILTERS = 10


async def custom_query(request: Request) -> dict[str, str]:
    """`?cf.tier=gold&cf.renewal=2027-03-31`: custom-field filters, by key (at most ten)."""
    wanted = {k.removeprefix("cf."): v for k, v in request.query_params.items() if k.startswith("cf.")}
    return dict(list(wanted.items())[:MAX_FILTERS])
