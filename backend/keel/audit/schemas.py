from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    created_at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
