from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    seq: int = Field(description="Place in the organisation's hash chain, from 1 without gaps")
    created_at: datetime
    actor: str
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
