from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from keel.access.dependencies import allowed
from keel.access.permissions import Permission
from keel.assignment import service
from keel.assignment.schemas import RuleCreate, RuleOut, RulePatch
from keel.core.errors import problem_docs
from keel.core.etag import IfMatch, etag, required_version, sends_etag
from keel.core.idempotency import Idempotent
from keel.core.principal import Principal
from keel.core.uow import UnitOfWorkRoute, UoW

RulesRead = Annotated[Principal, allowed(Permission.ASSIGNMENT_RULES_READ)]
RulesManage = Annotated[Principal, allowed(Permission.ASSIGNMENT_RULES_MANAGE)]

router = APIRouter(prefix="/assignment-rules", tags=["assignment rules"], route_class=UnitOfWorkRoute)


@router.get("", response_model=list[RuleOut])
async def list_rules(principal: RulesRead, uow: UoW) -> list[RuleOut]:
    """Every rule, by record type, in the order they are tried."""
    return [RuleOut.model_validate(r) for r in await service.list_rules(uow)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses={**sends_etag(201), **problem_docs({409: "The record type has its maximum of rules"})},
)
async def create_rule(
    body: RuleCreate, principal: RulesManage, _: Idempotent, uow: UoW, response: Response
) -> RuleOut:
    """Add a rule at `position` (last by default): conditions (countries; for deals an amount band in one
    currency) and a target (`owner_id`, or `team_id` for its members in turn)."""
    rule = await service.create_rule(uow, body)
    response.headers["ETag"] = etag(rule.version)
    return RuleOut.model_validate(rule)


@router.patch("/{rule_id}", response_model=RuleOut)
async def update_rule(
    rule_id: UUID,
    body: RulePatch,
    principal: RulesManage,
    uow: UoW,
    response: Response,
    if_match: IfMatch = None,
) -> RuleOut:
    """Change a rule, move it (`position`), or switch it off (`active: false`). If-Match required."""
    rule = await service.update_rule(uow, rule_id, body, expected_version=required_version(if_match))
    response.headers["ETag"] = etag(rule.version)
    return RuleOut.model_validate(rule)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: UUID, principal: RulesManage, uow: UoW) -> Response:
    """Remove a rule; records it assigned keep their owner and forget the rule."""
    await service.delete_rule(uow, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
