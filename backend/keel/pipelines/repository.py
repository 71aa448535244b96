"""The queries of pipelines and their stages, and of the deals that rest on them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keel.models import Deal, Pipeline, Stage


async def stages_of_pipelines(session: AsyncSession, pipeline_ids: list[UUID]) -> dict[UUID, list[Stage]]:
    """Each pipeline's stages, in order."""
    rows = await session.scalars(
        select(Stage).where(Stage.pipeline_id.in_(pipeline_ids)).order_by(Stage.position)
    )
    stages: dict[UUID, list[Stage]] = {}
    for stage in rows:
        stages.setdefault(stage.pipeline_id, []).append(stage)
    return stages


async def stages_of_pipeline(session: AsyncSession, pipeline_id: UUID) -> list[Stage]:
    return (await stages_of_pipelines(session, [pipeline_id])).get(pipeline_id, [])


async def pipeline_names(session: AsyncSession) -> Sequence[str]:
    return (await session.scalars(select(Pipeline.name))).all()


async def pipelines_oldest_first(session: AsyncSession) -> Sequence[Pipeline]:
    return (await session.scalars(select(Pipeline).order_by(Pipeline.created_at, Pipeline.id))).all()


async def pipeline_by_id(
    session: AsyncSession, pipeline_id: UUID, *, for_update: bool = False
) -> Pipeline | None:
    query = select(Pipeline).where(Pipeline.id == pipeline_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def another_pipeline_named(session: AsyncSession, name: str, pipeline_id: UUID) -> bool:
    """Whether a pipeline other than `pipeline_id` has this name, whatever its case."""
    taken = select(Pipeline.id).where(func.lower(Pipeline.name) == name.lower(), Pipeline.id != pipeline_id)
    return await session.scalar(taken) is not None


async def clear_default(session: AsyncSession) -> None:
    await session.execute(update(Pipeline).where(Pipeline.is_default).values(is_default=False))


async def count_deals_at_stage(session: AsyncSession, stage_id: UUID) -> int:
    return await session.scalar(select(func.count()).select_from(Deal).where(Deal.stage_id == stage_id)) or 0


async def count_deals_in_pipeline(session: AsyncSession, pipeline_id: UUID) -> int:
    deals = select(func.count()).select_from(Deal).where(Deal.pipeline_id == pipeline_id)
    return await session.scalar(deals) or 0


async def remove_stages_but(session: AsyncSession, pipeline_id: UUID, kept: Collection[UUID]) -> None:
    """The pipeline's stages not in `kept` removed."""
    await session.execute(delete(Stage).where(Stage.pipeline_id == pipeline_id, Stage.id.not_in(kept)))


async def move_stages_aside(session: AsyncSession, pipeline_id: UUID) -> None:
    """Every stage of the pipeline to the negative of its position."""
    await session.execute(
        update(Stage).where(Stage.pipeline_id == pipeline_id).values(position=-Stage.position)
    )
