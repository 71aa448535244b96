from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from keel.core.richtext import sanitise

Kind = Literal["note", "call", "email", "meeting", "task"]
MAX_BODY = 100_000


def _sanitised(html: str) -> str:
    clean = sanitise(html)
    if len(clean) > MAX_BODY:
        raise ValueError(f"is longer than {MAX_BODY} characters")
    return clean


RichText = Annotated[
    str,
    Field(max_length=2 * MAX_BODY, description="Limited HTML (p, strong, em, lists, links …), sanitised"),
    AfterValidator(_sanitised),
]
Subject = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


class Links(BaseModel):
    account_id: UUID | None = None
    contact_id: UUID | None = None
    deal_id: UUID | None = None
    ticket_id: UUID | None = None


class ActivityCreate(Links):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    subject: Subject = ""
    body: RichText = ""
    occurred_at: AwareDatetime | None = Field(default=None, description="When it happened; defaults to now")
    due_at: AwareDatetime | None = Field(default=None, description="Tasks only")
    done: bool = Field(default=False, description="Tasks only")
    owner_id: UUID | None = Field(default=None, description="The author, a member; defaults to the caller")
    assignee_id: UUID | None = Field(default=None, description="Who does the task; defaults to the author")

    @model_validator(mode="after")
    def _shape(self) -> ActivityCreate:
        if not any((self.account_id, self.contact_id, self.deal_id, self.ticket_id)):
            raise ValueError("an activity is on at least one account, contact, deal or ticket")
        if self.kind != "task" and (self.due_at is not None or self.done):
            raise ValueError("due_at and done are for tasks")
        return self


class ActivityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    body: RichText | None = None
    occurred_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    done: bool | None = None
    assignee_id: UUID | None = None


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: Kind
    subject: str
    body: str = Field(description="Sanitised HTML")
    account_id: UUID | None
    contact_id: UUID | None
    deal_id: UUID | None
    ticket_id: UUID | None
    occurred_at: datetime
    due_at: datetime | None
    done_at: datetime | None
    owner_id: UUID
    assignee_id: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class ActivityFilter(Links):
    kind: Kind | None = None
    assignee_id: UUID | None = None
    open_tasks: bool = False
    due_before: datetime | None = None
