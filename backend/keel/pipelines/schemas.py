from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from keel.core.fields import Text100

Outcome = Literal["open", "won", "lost"]


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: UUID | None = Field(
        default=None, description="An existing stage to keep (renamed, moved); omit for a new one"
    )
    name: Text100
    probability: int = Field(ge=0, le=100, description="Chance of winning a deal in this stage, in percent")
    outcome: Outcome = "open"


def _valid_stages(stages: list[StageIn]) -> list[StageIn]:
    names = [s.name.casefold() for s in stages]
    if len(set(names)) != len(names):
        raise ValueError("stage names must differ")
    if not any(s.outcome == "open" for s in stages) or not any(s.outcome == "won" for s in stages):
        raise ValueError("a pipeline needs at least one open stage and one won stage")
    ids = [s.id for s in stages if s.id is not None]
    if len(set(ids)) != len(ids):
        raise ValueError("a stage id appears twice")
    return stages


class PipelineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text100
    stages: list[StageIn] = Field(
        min_length=2, max_length=30, description="In order; ids are not allowed here"
    )

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: list[StageIn]) -> list[StageIn]:
        if any(s.id is not None for s in stages):
            raise ValueError("a new pipeline has new stages: leave out their ids")
        return _valid_stages(stages)


class PipelinePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text100 | None = None
    is_default: Literal[True] | None = Field(default=None, description="Make this the default pipeline")
    stages: list[StageIn] | None = Field(
        default=None, min_length=2, max_length=30, description="The whole list, in order: stages left out go"
    )

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: list[StageIn] | None) -> list[StageIn] | None:
        return None if stages is None else _valid_stages(stages)


class StageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    position: int
    probability: int
    outcome: Outcome


class PipelineOut(BaseModel):
    id: UUID
    name: str
    is_default: bool
    version: int
    created_at: datetime
    stages: list[StageOut]
