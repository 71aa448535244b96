"""Sales pipelines: ordered stages, each with a win probability and an outcome (open, won or lost)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from keel.core.audit_trail import changed_fields, record_event
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.uow import UnitOfWork
from keel.models import Pipeline, Stage
from keel.pipelines import repository
from keel.pipelines.schemas import PipelineCreate, PipelineOut, PipelinePatch, StageIn, StageOut

MAX_PIPELINES = 50
DEFAULT_STAGES = [
    StageIn(name="Qualification", probability=10),
    StageIn(name="Proposal", probability=40),
    StageIn(name="Negotiation", probability=70),
    StageIn(name="Won", probability=100, outcome="won"),
    StageIn(name="Lost", probability=0, outcome="lost"),
]


def _out(pipeline: Pipeline, stages: list[Stage]) -> PipelineOut:
    return PipelineOut(
        id=pipeline.id,
        name=pipeline.name,
        is_default=pipeline.is_default,
        version=pipeline.version,
        created_at=pipeline.created_at,
        stages=[StageOut.model_validate(s) for s in stages],
    )


def _snapshot(pipeline: Pipeline, stages: list[Stage]) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "is_default": pipeline.is_default,
        "stages": [[s.name, s.probability, s.outcome] for s in stages],
    }


async def _add_stages(uow: UnitOfWork, pipeline: Pipeline, stages: list[StageIn]) -> list[Stage]:
    rows = [
        Stage(
            org_id=uow.tenant,
            pipeline_id=pipeline.id,
            name=s.name,
            position=n,
            probability=s.probability,
            outcome=s.outcome,
        )
        for n, s in enumerate(stages, start=1)
    ]
    uow.session.add_all(rows)
    await uow.session.flush()
    return rows


async def create_pipeline(
    uow: UnitOfWork, body: PipelineCreate, *, is_default: bool = False, audited: bool = True
) -> PipelineOut:
    existing = await repository.pipeline_names(uow.session)
    if len(existing) >= MAX_PIPELINES:
        raise Problem(409, f"An organisation can have at most {MAX_PIPELINES} pipelines.")
    if body.name.casefold() in {n.casefold() for n in existing}:
        raise Problem(409, f"A pipeline named {body.name!r} already exists.")
    pipeline = Pipeline(org_id=uow.tenant, name=body.name, is_default=is_default)
    uow.session.add(pipeline)
    await uow.session.flush()
    await uow.session.refresh(pipeline, ["created_at", "version"])
    stages = await _add_stages(uow, pipeline, body.stages)
    if audited:
        await record_event(
            uow,
            "pipeline.created",
            entity_type="pipeline",
            entity_id=pipeline.id,
            after=_snapshot(pipeline, stages),
        )
    return _out(pipeline, stages)


async def create_default_pipeline(uow: UnitOfWork) -> PipelineOut:
    """The pipeline every new organisation starts with. Part of onboarding, which the platform's audit
    log records (keel.onboarding.flows), so it adds no row to the organisation's own trail."""
    return await create_pipeline(
        uow, PipelineCreate(name="Sales", stages=DEFAULT_STAGES), is_default=True, audited=False
    )


async def list_pipelines(uow: UnitOfWork) -> list[PipelineOut]:
    pipelines = await repository.pipelines_oldest_first(uow.session)
    stages = await repository.stages_of_pipelines(uow.session, [p.id for p in pipelines]) if pipelines else {}
    return [_out(p, stages.get(p.id, [])) for p in pipelines]


async def _pipeline(uow: UnitOfWork, pipeline_id: UUID, *, for_update: bool = False) -> Pipeline:
    pipeline = await repository.pipeline_by_id(uow.session, pipeline_id, for_update=for_update)
    if pipeline is None:
        raise Problem(404, "No such pipeline.")
    return pipeline


async def get_pipeline(uow: UnitOfWork, pipeline_id: UUID) -> PipelineOut:
    pipeline = await _pipeline(uow, pipeline_id)
    return _out(pipeline, await repository.stages_of_pipeline(uow.session, pipeline.id))


async def _deals_at_stage(uow: UnitOfWork, stage_id: UUID) -> int:
    """How many deals are at the stage, the caller's record scope notwithstanding: a stage in use by
    anyone's deals stays."""
    async with uow.whole_organisation():
        return await repository.count_deals_at_stage(uow.session, stage_id)


async def _deals_in_pipeline(uow: UnitOfWork, pipeline_id: UUID) -> int:
    """How many deals are in the pipeline, the caller's record scope notwithstanding."""
    async with uow.whole_organisation():
        return await repository.count_deals_in_pipeline(uow.session, pipeline_id)


async def _replace_stages(
    uow: UnitOfWork, pipeline: Pipeline, current: list[Stage], wanted: list[StageIn]
) -> list[Stage]:
    """Keep the stages named by id (renamed, moved), add new ones, remove the rest."""
    by_id = {s.id: s for s in current}
    if unknown := [str(s.id) for s in wanted if s.id is not None and s.id not in by_id]:
        raise Problem(422, f"These stages are not in this pipeline: {', '.join(unknown)}.")
    kept = {s.id: s for s in wanted if s.id is not None}
    for stage in current:
        if stage.id in kept and kept[stage.id].outcome == stage.outcome:
            continue
        if deals := await _deals_at_stage(uow, stage.id):
            change = "removed" if stage.id not in kept else "given another outcome"
            raise Problem(
                409, f"{deals} deal(s) are at stage {stage.name!r}: move them before it is {change}."
            )
    await repository.remove_stages_but(uow.session, pipeline.id, kept.keys())
    # Out of the way first, so the new order never collides with the old one (positions are unique).
    await repository.move_stages_aside(uow.session, pipeline.id)
    rows = []
    for n, item in enumerate(wanted, start=1):
        if item.id is None:
            stage = Stage(org_id=uow.tenant, pipeline_id=pipeline.id)
            uow.session.add(stage)
        else:
            stage = by_id[item.id]
        stage.name, stage.position, stage.probability, stage.outcome = (
            item.name,
            n,
            item.probability,
            item.outcome,
        )
        rows.append(stage)
    await uow.session.flush()
    return rows


async def update_pipeline(
    uow: UnitOfWork, pipeline_id: UUID, patch: PipelinePatch, *, expected_version: int
) -> PipelineOut:
    pipeline = await _pipeline(uow, pipeline_id, for_update=True)
    if pipeline.version != expected_version:
        raise stale()
    stages = await repository.stages_of_pipeline(uow.session, pipeline.id)
    before = _snapshot(pipeline, stages)
    if patch.name is not None and patch.name != pipeline.name:
        if await repository.another_pipeline_named(uow.session, patch.name, pipeline.id):
            raise Problem(409, f"A pipeline named {patch.name!r} already exists.")
        pipeline.name = patch.name
    if patch.is_default and not pipeline.is_default:
        await repository.clear_default(uow.session)
        await uow.session.flush()
        pipeline.is_default = True
    if patch.stages is not None:
        stages = await _replace_stages(uow, pipeline, stages, patch.stages)
    old, new = changed_fields(before, _snapshot(pipeline, stages))
    if new:
        pipeline.version += 1
        await record_event(
            uow, "pipeline.updated", entity_type="pipeline", entity_id=pipeline.id, before=old, after=new
        )
    return _out(pipeline, stages)


async def delete_pipeline(uow: UnitOfWork, pipeline_id: UUID) -> None:
    pipeline = await _pipeline(uow, pipeline_id, for_update=True)
    if pipeline.is_default:
        raise Problem(409, "The default pipeline cannot be deleted: make another one the default first.")
    if deals := await _deals_in_pipeline(uow, pipeline.id):
        raise Problem(409, f"{deals} deal(s) are in this pipeline: move them before deleting it.")
    stages = await repository.stages_of_pipeline(uow.session, pipeline.id)
    await uow.session.delete(pipeline)
    await record_event(
        uow,
        "pipeline.deleted",
        entity_type="pipeline",
        entity_id=pipeline_id,
        before=_snapshot(pipeline, stages),
    )
