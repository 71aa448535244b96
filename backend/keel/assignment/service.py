"""Assignment rules choose the owner of a new record (lead, account, contact, deal) that is created
without one by someone who sees the whole organisation: an Org Admin, an API key, an import. Rules of the
record's type are tried in order; the first whose conditions hold gives the owner (one member, or a
team's members in turn), and the record keeps the rule's id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from keel.access.ownership import owner_for, require_member
from keel.assignment import repository
from keel.assignment.schemas import RuleCreate, RulePatch
from keel.core.audit_trail import changed_fields, record_event, snapshot
from keel.core.errors import Problem
from keel.core.etag import stale
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.models import AssignmentRule

MAX_RULES = 200
_FIELDS = (
    "name",
    "record_type",
    "position",
    "active",
    "countries",
    "currency",
    "min_amount_minor",
    "max_amount_minor",
    "owner_id",
    "team_id",
)


def _matches(rule: AssignmentRule, country: str | None, amount: tuple[int, str] | None) -> bool:
    if rule.countries and country not in rule.countries:
        return False
    if rule.min_amount_minor is None and rule.max_amount_minor is None:
        return True
    if amount is None or amount[1] != rule.currency:
        return False
    low, high = rule.min_amount_minor or 0, rule.max_amount_minor
    return low <= amount[0] and (high is None or amount[0] <= high)


class Assigner:
    """The active rules of one record type, loaded once (and locked, so team turns are taken one at a
    time) to choose owners for one record or thousands (an import)."""

    def __init__(self, rules: list[AssignmentRule], teams: dict[UUID, list[UUID]]) -> None:
        self.rules, self.teams = rules, teams

    @classmethod
    async def load(cls, uow: UnitOfWork, record_type: str) -> Assigner:
        rules = await repository.active_rules_locked(uow.session, record_type)
        wanted = {r.team_id for r in rules if r.team_id is not None}
        teams = await repository.members_of_teams(uow.session, wanted) if wanted else {}
        return cls(rules, teams)

    def choose(self, country: str | None, amount: tuple[int, str] | None = None) -> tuple[UUID, UUID] | None:
        """The owner and the rule that chose them, or None when no rule matches."""
        for rule in self.rules:
            if not _matches(rule, country, amount):
                continue
            if rule.owner_id is not None:
                return rule.owner_id, rule.id
            members = self.teams.get(rule.team_id) if rule.team_id else None
            if members:
                later = [m for m in members if rule.last_user_id is not None and m > rule.last_user_id]
                rule.last_user_id = later[0] if later else members[0]  # saved with the transaction
                return rule.last_user_id, rule.id
        return None


async def choose_owner(
    uow: UnitOfWork,
    principal: Principal,
    record_type: str,
    owner_id: UUID | None,
    *,
    country: str | None = None,
    amount: tuple[int, str] | None = None,
) -> tuple[UUID, UUID | None]:
    """The new record's owner and the rule that chose it (None when named or defaulted to the caller)."""
    if owner_id is None and principal.record_scope == "all":
        chosen = (await Assigner.load(uow, record_type)).choose(country, amount)
        if chosen is not None:
            return chosen
    owner = owner_for(principal, owner_id, f"{record_type}s")
    await require_member(uow, owner, "owner_id")
    return owner, None


async def list_rules(uow: UnitOfWork) -> list[AssignmentRule]:
    return await repository.all_rules(uow.session)


async def _check(uow: UnitOfWork, rule: AssignmentRule) -> None:
    if rule.owner_id is not None:
        await require_member(uow, rule.owner_id, "owner_id")
    if rule.team_id is not None and not await repository.team_exists(uow.session, rule.team_id):
        raise Problem(422, "team_id is not a team of this organisation.")
    band = rule.min_amount_minor is not None or rule.max_amount_minor is not None
    if band and (rule.record_type != "deal" or rule.currency is None):
        raise Problem(422, "An amount band is for deal rules, with its currency.")
    if band and rule.max_amount_minor is not None and (rule.min_amount_minor or 0) > rule.max_amount_minor:
        raise Problem(422, "min_amount_minor is above max_amount_minor.")


async def create_rule(uow: UnitOfWork, body: RuleCreate) -> AssignmentRule:
    count, last = await repository.count_and_last_position(uow.session, body.record_type)
    if count >= MAX_RULES:
        raise Problem(409, f"An organisation can have at most {MAX_RULES} rules per record type.")
    position = body.position or (last or 0) + 1
    rule = AssignmentRule(
        org_id=uow.tenant,
        **body.model_dump(exclude={"position", "countries", "active"}),
        countries=sorted(set(body.countries or [])),
        active=body.active if body.active is not None else True,
        position=position,
    )
    await _check(uow, rule)
    # The rules at its position and after move one place down, so it goes exactly there.
    await repository.move_rules_down_from(uow.session, body.record_type, position, None)
    uow.session.add(rule)
    await uow.session.flush()
    await uow.session.refresh(rule)
    await record_event(
        uow,
        "assignment_rule.created",
        entity_type="assignment_rule",
        entity_id=rule.id,
        after=_snapshot(rule),
    )
    return rule


def _snapshot(rule: AssignmentRule) -> dict[str, Any]:
    return snapshot(rule, _FIELDS)


async def _rule(uow: UnitOfWork, rule_id: UUID) -> AssignmentRule:
    rule = await repository.rule_by_id_locked(uow.session, rule_id)
    if rule is None:
        raise Problem(404, "No such assignment rule.")
    return rule


async def update_rule(
    uow: UnitOfWork, rule_id: UUID, patch: RulePatch, *, expected_version: int
) -> AssignmentRule:
    rule = await _rule(uow, rule_id)
    if rule.version != expected_version:
        raise stale()
    changes = patch.model_dump(exclude_unset=True)
    if any(changes.get(field, "") is None for field in ("name", "position", "active")):
        raise Problem(422, "name, position and active cannot be removed.")
    if "owner_id" in changes or "team_id" in changes:
        owner, team = changes.get("owner_id", rule.owner_id), changes.get("team_id", rule.team_id)
        if (owner is None) == (team is None):
            raise Problem(422, "A rule gives records to either owner_id or team_id.")
    before = _snapshot(rule)
    for field, value in changes.items():
        setattr(rule, field, sorted(set(value or [])) if field == "countries" else value)
    if "team_id" in changes:
        rule.last_user_id = None
    await _check(uow, rule)
    if "position" in changes and before["position"] != rule.position:
        await repository.move_rules_down_from(uow.session, rule.record_type, rule.position, rule.id)
    old, new = changed_fields(before, _snapshot(rule))
    if new:
        rule.version += 1
        await record_event(
            uow,
            "assignment_rule.updated",
            entity_type="assignment_rule",
            entity_id=rule.id,
            before=old,
            after=new,
        )
    return rule


async def delete_rule(uow: UnitOfWork, rule_id: UUID) -> None:
    rule = await _rule(uow, rule_id)
    await uow.session.delete(rule)
    await record_event(
        uow,
        "assignment_rule.deleted",
        entity_type="assignment_rule",
        entity_id=rule_id,
        before=_snapshot(rule),
    )
