from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from keel.access.permissions import Permission

RoleKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="Lower-case, a-z 0-9 _")]
RoleName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
RecordScope = Literal["own", "team", "all"]
PermissionList = Annotated[list[Permission], Field(max_length=len(Permission))]


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: RoleKey
    name: RoleName
    permissions: PermissionList
    record_scope: RecordScope = Field(description="Which owned records its members see")


class RolePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RoleName | None = None
    permissions: PermissionList | None = None
    record_scope: RecordScope | None = None


class RoleOut(BaseModel):
    key: str
    name: str
    built_in: bool
    permissions: list[Permission]
    record_scope: RecordScope
    version: int = Field(description="For If-Match; built-in roles never change")


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RoleName


class TeamOut(BaseModel):
    id: UUID
    name: str
    member_ids: list[UUID]
    created_at: datetime
