from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "ci"}]})

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")


_KEY_EXAMPLE: dict[str, Any] = {
    "id": "0e7c2b94-61d5-4f3a-8b2e-5c9d1a7f3e60",
    "name": "ci",
    "prefix": "keel_sk_Q2xp",
    "created_by": "user:1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    "created_at": "2026-11-06T13:20:00Z",
    "revoked_at": None,
}


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: UUID
    name: str
    prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_KEY_EXAMPLE, "secret": "keel_sk_Q2xpLXNlY3JldC1zaG93bi1vbmNlLWV4YW1wbGUtMDE"}]
        }
    )

    secret: str | None = Field(
        description="Shown once; Keel keeps only its hash. Null on an Idempotency-Key replay."
    )
