"""Change tracking: a unit of work knows every table it changed, through objects or ORM statements, and
tells the listeners after it commits, and only then."""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy import delete, select, update

from keel.core import changes
from keel.core import db as core_db
from keel.core.uow import job_unit_of_work
from keel.models import Pipeline, Stage, Team
from tests.conftest import Org


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    orgs: list[UUID] = []

    async def listener(org_id: UUID) -> None:
        orgs.append(org_id)

    monkeypatch.setattr(changes, "_LISTENERS", [(frozenset({"teams", "stages"}), listener)])
    return orgs


async def test_objects_and_statements_are_tracked_and_told_after_the_commit(
    org_a: Org, heard: list[UUID]
) -> None:
    db = core_db.runtime_database()
    async with job_unit_of_work(db, org_a.id) as uow:
        uow.session.add(Team(org_id=org_a.id, name="North"))
        await uow.session.flush()
        assert uow.changed_tables == {"teams"} and heard == []  # nothing told before the commit
    assert heard == [org_a.id]
    async with job_unit_of_work(db, org_a.id) as uow:
        await uow.session.execute(
            update(Stage).where(Stage.position == 1).values(probability=Stage.probability)
        )
        assert uow.changed_tables == {"stages"}
    async with job_unit_of_work(db, org_a.id) as uow:
        await uow.session.execute(delete(Team).where(Team.name == "North"))
    assert heard == [org_a.id] * 3


async def test_reads_and_rolled_back_changes_tell_nobody(org_a: Org, heard: list[UUID]) -> None:
    db = core_db.runtime_database()
    async with job_unit_of_work(db, org_a.id) as uow:
        await uow.session.scalars(select(Pipeline))
        assert uow.changed_tables == set()

    async def failing_job() -> None:
        async with job_unit_of_work(db, org_a.id) as uow:
            uow.session.add(Team(org_id=org_a.id, name="South"))
            await uow.session.flush()
            raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError):
        await failing_job()
    assert heard == []
