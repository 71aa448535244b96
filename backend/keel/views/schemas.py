from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

RecordType = Literal["account", "contact", "deal", "lead", "ticket", "activity"]
ViewName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
FilterValue = Annotated[str, Field(max_length=254)]

# The list filters each record type takes (custom fields add `cf.<key>` to the first four; each also
# keeps its `sort`).
FILTERS: dict[str, frozenset[str]] = {
    "account": frozenset({"owner_id", "lifecycle_stage", "tag", "domain"}),
    "contact": frozenset({"owner_id", "account_id", "email", "tag"}),
    "deal": frozenset(
        {"owner_id", "account_id", "pipeline_id", "stage_id", "status", "tag", "close_from", "close_to"}
    ),
    "lead": frozenset({"owner_id", "status", "source", "tag", "email"}),
    "ticket": frozenset({"status", "priority", "assignee_id", "account_id"}),
    "activity": frozenset(
        {
            "account_id",
            "contact_id",
            "deal_id",
            "ticket_id",
            "kind",
            "assignee_id",
            "open_tasks",
            "due_before",
        }
    ),
}
PATHS = {
    "account": "/api/v1/accounts",
    "contact": "/api/v1/contacts",
    "deal": "/api/v1/deals",
    "lead": "/api/v1/leads",
    "ticket": "/api/v1/tickets",
    "activity": "/api/v1/activities",
}


def check_filters(record_type: str, filters: dict[str, str]) -> None:
    custom = record_type in ("account", "contact", "deal", "lead")
    known = FILTERS[record_type] | {"sort"}  # every list takes its order too
    unknown = [k for k in filters if k not in known and not (custom and k.startswith("cf."))]
    if unknown:
        raise ValueError(f"{', '.join(sorted(unknown))} is not a filter of {record_type}s")


class ViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ViewName
    record_type: RecordType
    filters: dict[str, FilterValue] = Field(
        default_factory=dict, max_length=20, description="The list endpoint's query parameters"
    )
    shared: bool = Field(default=False, description="Seen by everyone in the organisation")

    @model_validator(mode="after")
    def _filters(self) -> ViewCreate:
        check_filters(self.record_type, self.filters)
        return self


class ViewPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ViewName | None = None
    filters: dict[str, FilterValue] | None = Field(default=None, max_length=20)
    shared: bool | None = None


class ViewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    user_id: UUID = Field(description="The member who saved it")
    name: str
    record_type: RecordType
    filters: dict[str, str]
    shared: bool
    version: int
    created_at: datetime

    @computed_field(description="The list request the view stands for")  # type: ignore[prop-decorator]
    @property
    def path(self) -> str:
        query = urlencode(sorted(self.filters.items()))
        return PATHS[self.record_type] + (f"?{query}" if query else "")
