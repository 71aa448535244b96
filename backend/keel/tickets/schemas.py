from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from keel.core.fields import Name, Tag

TicketStatus = Literal["open", "pending", "solved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Description = Annotated[str, Field(max_length=20_000, description="Plain text")]


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Name
    description: Description = ""
    account_id: UUID | None = None
    contact_id: UUID | None = Field(default=None, description="With an account, one of its contacts")
    priority: Priority = "normal"
    owner_id: UUID | None = Field(default=None, description="A member; defaults to the caller")
    assignee_id: UUID | None = Field(default=None, description="The agent working the ticket")
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class TicketPatch(BaseModel):
    """`status`: open, pending and solved move freely; closed is final."""

    model_config = ConfigDict(extra="forbid")

    subject: Name | None = None
    description: Description | None = None
    account_id: UUID | None = None
    contact_id: UUID | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    owner_id: UUID | None = None
    assignee_id: UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    subject: str
    description: str
    account_id: UUID | None
    contact_id: UUID | None
    status: TicketStatus
    priority: Priority
    owner_id: UUID
    assignee_id: UUID | None
    tags: list[str]
    first_response_at: datetime | None = Field(
        description="When the customer first heard back: the ticket left open, or a call, e-mail or "
        "meeting was logged on it"
    )
    resolved_at: datetime | None = Field(description="When it was last solved (cleared when reopened)")
    closed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
