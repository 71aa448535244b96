from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW
from keel.pipelines import service
from keel.pipelines.schemas import PipelineCreate, PipelineOut, PipelinePatch

PipelinesRead = Annotated[Principal, allowed(Permission.PIPELINES_READ)]
PipelinesManage = Annotated[Principal, allowed(Permission.PIPELINES_MANAGE)]

router = APIRouter(prefix="/pipelines", tags=["pipelines"], route_class=UnitOfWorkRoute)


@router.get("", response_model=list[PipelineOut])
async def list_pipelines(principal: PipelinesRead, uow: UoW) -> list[PipelineOut]:
    """Every pipeline of the organisation with its stages in order; one of them is the default."""
    return await service.list_pipelines(uow)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PipelineOut,
    responses={
        **sends_etag(201),
        **problem_docs({409: "A pipeline with this name exists, or the organisation has its maximum"}),
    },
)
async def create_pipeline(
    body: PipelineCreate, principal: PipelinesManage, _: Idempotent, uow: UoW, response: Response
) -> PipelineOut:
    """A new pipeline: its stages in order, with at least one open and one won stage."""
    pipeline = await service.create_pipeline(uow, body)
    response.headers["ETag"] = etag(pipeline.version)
    return pipeline


@router.get("/{pipeline_id}", response_model=PipelineOut, responses=sends_etag())
async def get_pipeline(
    pipeline_id: UUID, principal: PipelinesRead, uow: UoW, response: Response
) -> PipelineOut:
    pipeline = await service.get_pipeline(uow, pipeline_id)
    response.headers["ETag"] = etag(pipeline.version)
    return pipeline


@router.patch(
    "/{pipeline_id}",
    response_model=PipelineOut,
    responses=problem_docs(
        {409: "A pipeline with this name exists, or deals are at a stage the change removes or re-purposes"}
    ),
)
async def update_pipeline(
    pipeline_id: UUID,
    body: PipelinePatch,
    principal: PipelinesManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> PipelineOut:
    """Rename, make default, or set the stages (the whole list in order; existing stages by id)."""
    pipeline = await service.update_pipeline(
        uow, pipeline_id, body, expected_version=required_version(if_match)
    )
    response.headers["ETag"] = etag(pipeline.version)
    return pipeline


@router.delete(
    "/{pipeline_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_docs({409: "The default pipeline, or one that still has deals"}),
)
async def delete_pipeline(pipeline_id: UUID, principal: PipelinesManage, uow: UoW) -> Response:
    await service.delete_pipeline(uow, pipeline_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
