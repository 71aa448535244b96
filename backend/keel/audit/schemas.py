from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class AuditEventOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
                    "category": "general",
                    "seq": 1842,
                    "created_at": "2026-11-20T16:45:00Z",
                    "actor": "user:1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "client_id": "keel-web",
                    "action": "account.updated",
                    "entity_type": "account",
                    "entity_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "request_id": "5f2c8a1e9b7d4c3a8e6f0b1d2c3a4e5f",
                    "before": {"lifecycle_stage": "prospect"},
                    "after": {"lifecycle_stage": "customer"},
                    "hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                }
            ]
        },
    )

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
