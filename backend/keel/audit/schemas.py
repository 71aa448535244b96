from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    category: str = Field(description="money, security, access or general: sets retention and the chain")
    seq: int = Field(description="Place in the organisation's chain of this category, from 1 without gaps")
    created_at: datetime
    actor: str
    client_id: str | None = Field(default=None, description="The OAuth client a user acted through")
    action: str
    entity_type: str
    entity_id: str | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str = Field(description="SHA-256 of the previous row's hash and this row's content, hex")

    @field_validator("hash", mode="before")
    @classmethod
    def _hex(cls, value: object) -> object:
        return value.hex() if isinstance(value, bytes) else value


class AuditFilter(BaseModel):
    """Which rows: every given condition must hold."""

    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(default=None, max_length=100)
    entity_type: str | None = Field(default=None, max_length=50)
    entity_id: str | None = Field(default=None, max_length=100)
    actor: str | None = Field(default=None, max_length=200, description="e.g. user:<id> or api_key:<id>")
    since: datetime | None = Field(default=None, description="created at or after (ISO 8601 with offset)")
    until: datetime | None = Field(default=None, description="created before")

    @model_validator(mode="after")
    def _range(self) -> AuditFilter:
        for bound in (self.since, self.until):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("give since and until with a time zone offset, e.g. 2026-11-01T00:00:00Z")
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class ComplianceExportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    status: str = Field(description="pending, done or failed")
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    manifest: dict[str, Any] | None = Field(description="Files with SHA-256, size and rows; once done")
