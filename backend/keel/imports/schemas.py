from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

RecordType = Literal["account", "contact", "deal"]
MAX_CSV_BYTES = 50 * 1024 * 1024
Column = Annotated[str, Field(min_length=1, max_length=200)]
Target = Annotated[str, Field(min_length=1, max_length=60)]


class ImportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_type: RecordType
    csv_base64: str = Field(max_length=MAX_CSV_BYTES * 4 // 3 + 4, description="The file's bytes, base64")
    mapping: dict[Column, Target] = Field(
        min_length=1,
        max_length=100,
        description='CSV column → field, e.g. {"Company": "name", "Tier": "custom.tier"}',
    )
    upsert_by: Literal["external_id", "email", "domain"] | None = Field(
        default=None, description="Update the record with the same value instead of creating one"
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        default=None, description="Found by itself if not given"
    )
    dry_run: bool = Field(default=False, description="Check every row and report, writing nothing")

    @field_validator("csv_base64")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("is not base64") from exc
        return value

    def data(self) -> bytes:
        return base64.b64decode(self.csv_base64)


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    record_type: RecordType
    status: Literal["queued", "running", "completed", "failed", "rolled_back"]
    dry_run: bool
    upsert_by: str | None
    mapping: dict[str, str]
    delimiter: str
    total_rows: int
    rows_done: int
    created: int = Field(description="Records created (in a dry run: that would be)")
    updated: int = Field(description="Records updated (in a dry run: that would be)")
    failed: int = Field(description="Rows not taken; `errors` says why (the first 1,000)")
    errors: list[dict[str, Any]]
    requested_by: UUID | None
    created_at: datetime
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> int:
        return 100 if self.total_rows == 0 else self.rows_done * 100 // self.total_rows
