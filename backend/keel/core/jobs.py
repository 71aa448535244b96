"""Background jobs on procrastinate, in the same PostgreSQL as everything else.

`enqueue` writes the job through the request's own connection, so the job exists if and only if the
change that caused it commits. Tenant jobs carry `org_id` and run in a unit of work bound to it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import procrastinate
import structlog
from procrastinate import exceptions as job_errors
from procrastinate.jobs import Job

from keel.core.db import runtime_database
from keel.core.uow import UnitOfWork, job_unit_of_work

log = structlog.get_logger("keel.jobs")

# Domain task modules are added by `keel.registry`, so the worker knows every task by name.
CORE_TASK_MODULES = ["keel.core.maintenance", "keel.core.mail"]

job_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=CORE_TASK_MODULES,
)

DEFAULT_RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)


def tenant_task(
    name: str, *, queue: str = "default", retry: procrastinate.RetryStrategy = DEFAULT_RETRY
) -> Callable[[Callable[..., Awaitable[Any]]], procrastinate.tasks.Task[Any, Any, Any]]:
    """A task that runs inside one organisation: `fn(uow, **kwargs)`, committed when it returns."""

    def register(fn: Callable[..., Awaitable[Any]]) -> procrastinate.tasks.Task[Any, Any, Any]:
        @functools.wraps(fn)
        async def run(*, org_id: str, **kwargs: Any) -> Any:
            structlog.contextvars.bind_contextvars(org_id=org_id, task=name)
            async with job_unit_of_work(runtime_database(), UUID(org_id)) as uow:
                return await fn(uow, **kwargs)

        task: procrastinate.tasks.Task[Any, Any, Any] = job_app.task(name=name, queue=queue, retry=retry)(run)
        return task

    return register


async def enqueue(
    uow: UnitOfWork,
    task: procrastinate.tasks.Task[Any, Any, Any],
    *,
    dedupe_key: str | None = None,
    delay: timedelta | None = None,
    **kwargs: Any,
) -> int | None:
    """Add a job in the unit of work's transaction. Returns its id, or None when deduplicated.

    `dedupe_key`: while a job with the same key is waiting, another is not added.
    """
    payload = {**kwargs}
    if uow.org_id is not None:
        payload.setdefault("org_id", str(uow.org_id))
    options: dict[str, Any] = {}
    if dedupe_key is not None:
        options["queueing_lock"] = f"{payload.get('org_id', 'global')}:{dedupe_key}"
    if delay is not None:
        options["schedule_in"] = {"seconds": delay.total_seconds()}
    # A savepoint keeps the request's transaction usable when the dedupe constraint fires. SQLAlchemy
    # emits SAVEPOINT only once the connection is used inside the block, so take it there; and let
    # AlreadyEnqueued leave the block so the savepoint is rolled back, not released.
    try:
        async with uow.session.begin_nested():
            connection = await uow.session.connection()
            options["connection"] = (await connection.get_raw_connection()).driver_connection
            job_id: int = await task.configure(**options).defer_async(**payload)
    except job_errors.AlreadyEnqueued:
        return None
    return job_id


async def recover_stalled_jobs(app: procrastinate.App, stalled_after: float) -> list[int]:
    """Put back jobs whose worker stopped sending heartbeats (killed, lost its host)."""
    stalled: list[Job] = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after))
    recovered = []
    for job in stalled:
        assert job.id is not None
        await app.job_manager.retry_job(job)
        recovered.append(job.id)
        log.warning("stalled_job_requeued", job_id=job.id, task=job.task_name)
    return recovered


async def watch_stalled_jobs(app: procrastinate.App, stalled_after: float, every: float) -> None:
    """Run `recover_stalled_jobs` now and then every `every` seconds, for the worker's lifetime."""
    while True:
        try:
            await recover_stalled_jobs(app, stalled_after)
        except Exception:  # keep the worker alive; the next round tries again
            log.exception("stalled_job_recovery_failed")
        await asyncio.sleep(every)


@asynccontextmanager
async def open_job_app(conninfo: str, *, max_size: int = 4) -> AsyncIterator[procrastinate.App]:
    """Open the job app on its own small pool (worker and CLI; requests use their own connection)."""
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=max_size)
    with job_app.replace_connector(connector):
        async with job_app.open_async():
            yield job_app
