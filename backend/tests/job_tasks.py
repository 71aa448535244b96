"""Test-only tasks registered on the real `job_app`, on their own queue.

Imported by `tests/core/test_jobs.py` and by the worker subprocesses that test starts, so both sides
know every task by name. Side effects are `audit_events` rows (tenant-scoped, append-only):

- `tests.attempt`: written in a separate, committed transaction as soon as a run starts, so it
  survives the run failing or its worker being killed; one row per run, with the worker's pid.
- any other action: written in the job's own unit of work, so it exists only if the run committed.
"""

from __future__ import annotations

import asyncio
import os
import time

import anyio
import procrastinate
from sqlalchemy import func, select

from keel.core.audit_trail import record_event
from keel.core.db import runtime_database
from keel.core.jobs import tenant_task
from keel.core.uow import UnitOfWork, job_unit_of_work
from keel.models import AuditEvent

QUEUE = "tests"
ATTEMPT = "tests.attempt"
EFFECT = "tests.effect"
VISIBLE = "tests.visible"
ENTITY_TYPE = "test_job"

# `max_attempts` counts retries: a job that always fails runs max_attempts + 1 times in all.
RETRIES = 2
FAST_RETRY = procrastinate.RetryStrategy(max_attempts=RETRIES, wait=1)
RELEASE_TIMEOUT_SECONDS = 30.0


class Boom(RuntimeError):
    """The failure the failing tasks raise."""


async def _record_attempt(uow: UnitOfWork, entity_id: str) -> int:
    """Commit a `tests.attempt` row on a side connection; return how many runs have started so far."""
    async with job_unit_of_work(runtime_database(), uow.tenant) as side:
        await record_event(
            side, ATTEMPT, entity_type=ENTITY_TYPE, entity_id=entity_id, after={"pid": os.getpid()}
        )
    started = await uow.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == ATTEMPT, AuditEvent.entity_id == entity_id)
    )
    return int(started or 0)


@tenant_task("tests.record", queue=QUEUE)
async def record(uow: UnitOfWork, *, entity_id: str) -> None:
    """The plain case: one effect row in the job's unit of work."""
    await record_event(uow, EFFECT, entity_type=ENTITY_TYPE, entity_id=entity_id)


@tenant_task("tests.always_fails", queue=QUEUE, retry=FAST_RETRY)
async def always_fails(uow: UnitOfWork, *, entity_id: str) -> None:
    await _record_attempt(uow, entity_id)
    await record_event(uow, EFFECT, entity_type=ENTITY_TYPE, entity_id=entity_id)  # rolled back
    raise Boom(f"always fails ({entity_id})")


@tenant_task("tests.fails_once", queue=QUEUE, retry=FAST_RETRY)
async def fails_once(uow: UnitOfWork, *, entity_id: str) -> None:
    if await _record_attempt(uow, entity_id) == 1:
        await record_event(uow, EFFECT, entity_type=ENTITY_TYPE, entity_id=entity_id)  # rolled back
        raise Boom(f"first attempt fails ({entity_id})")
    await record_event(uow, EFFECT, entity_type=ENTITY_TYPE, entity_id=entity_id)


@tenant_task("tests.count_visible", queue=QUEUE)
async def count_visible(uow: UnitOfWork, *, entity_id: str) -> None:
    """Record which audit rows this job can see: their number and their organisations."""
    rows = (await uow.session.execute(select(AuditEvent.org_id))).scalars().all()
    await record_event(
        uow,
        VISIBLE,
        entity_type=ENTITY_TYPE,
        entity_id=entity_id,
        after={"count": len(rows), "org_ids": sorted({str(org_id) for org_id in rows})},
    )


@tenant_task("tests.effect_after_release", queue=QUEUE)
async def effect_after_release(uow: UnitOfWork, *, entity_id: str, release_file: str) -> None:
    """Mark that the run started, wait until `release_file` exists, then write the effect."""
    await _record_attempt(uow, entity_id)
    deadline = time.monotonic() + RELEASE_TIMEOUT_SECONDS
    while not await anyio.Path(release_file).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release_file} never appeared")
        await asyncio.sleep(0.05)
    await record_event(uow, EFFECT, entity_type=ENTITY_TYPE, entity_id=entity_id)
