"""Background jobs as an operator sees them: transactional enqueue, dedupe, retries, the failed-jobs CLI,
tenant isolation inside jobs, recovery from a killed worker, and the idempotency-key purge.

Jobs run on real workers: an in-process procrastinate worker on the real `job_app` (its own pool,
as the `keel_app` role), or `keel worker` subprocesses where the process boundary matters.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy import func, select

from keel.core.audit_trail import record_event
from keel.core.db import runtime_database
from keel.core.jobs import enqueue, job_app, open_job_app
from keel.core.maintenance import purge_idempotency_keys
from keel.core.uow import job_unit_of_work
from keel.models import AuditEvent
from tests import job_tasks
from tests.conftest import keel_cli, keel_env

BACKEND_DIR = Path(__file__).resolve().parents[2]
T = TypeVar("T")
# `keel worker` settings for the subprocess workers: quick heartbeats, quick stall detection.
HEARTBEAT_SECONDS = 0.5
STALLED_AFTER_SECONDS = 2


class Rollback(Exception):
    """Raised inside a unit of work to make it roll back, as a failing request would."""


# --- helpers ------------------------------------------------------------------------------------------


async def admin_query(test_database: Any, query: str, *params: Any) -> list[dict[str, Any]]:
    """Read or write as the admin (superuser: no RLS), outside any unit of work."""
    async with await psycopg.AsyncConnection.connect(
        test_database.admin_conninfo(), autocommit=True, row_factory=dict_row
    ) as conn:
        cursor = await conn.execute(query, params)
        return await cursor.fetchall() if cursor.description else []


async def job_row(test_database: Any, job_id: int) -> dict[str, Any] | None:
    rows = await admin_query(
        test_database,
        "SELECT id, status::text AS status, attempts, args, task_name, queue_name, queueing_lock "
        "FROM procrastinate.procrastinate_jobs WHERE id = %s",
        job_id,
    )
    return rows[0] if rows else None


async def jobs_of_task(test_database: Any, task_name: str) -> list[dict[str, Any]]:
    return await admin_query(
        test_database,
        "SELECT id, status::text AS status, args FROM procrastinate.procrastinate_jobs "
        "WHERE task_name = %s ORDER BY id",
        task_name,
    )


async def audit_count(test_database: Any, action: str, entity_id: str) -> int:
    rows = await admin_query(
        test_database,
        "SELECT count(*) AS n FROM keel.audit_events WHERE action = %s AND entity_id = %s",
        action,
        entity_id,
    )
    return int(rows[0]["n"])


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    seconds: float,
    what: str,
    on_timeout: Callable[[], str] = lambda: "",
) -> T:
    """Poll `probe` until `done(value)`; fail with the last value seen after `seconds`."""
    last: list[T] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                last[:] = [await probe()]
                if done(last[0]):
                    return last[0]
                await asyncio.sleep(0.1)
    except TimeoutError:
        seen = repr(last[0]) if last else "nothing"
        pytest.fail(f"timed out after {seconds}s waiting for {what}; last: {seen}\n{on_timeout()}")


async def job_status(test_database: Any, job_id: int) -> str | None:
    row = await job_row(test_database, job_id)
    return row["status"] if row else None


async def enqueue_committed(org_id: UUID, task: Any, **kwargs: Any) -> int:
    async with job_unit_of_work(runtime_database(), org_id) as uow:
        job_id = await enqueue(uow, task, **kwargs)
    assert job_id is not None
    return job_id


@asynccontextmanager
async def in_process_worker(test_database: Any) -> AsyncIterator[None]:
    """A real procrastinate worker on `job_app`, in this event loop, on its own pool as `keel_app`."""
    async with open_job_app(test_database.role_conninfo("keel_app")):
        worker = asyncio.create_task(
            job_app.run_worker_async(
                queues=[job_tasks.QUEUE],
                concurrency=2,
                install_signal_handlers=False,
                fetch_job_polling_interval=0.1,
                update_heartbeat_interval=0.5,
            )
        )
        try:
            yield
        finally:
            worker.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker, timeout=15)


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    bar = "\u2502"  # rich's light vertical bar separates body cells; the header uses a heavy one
    return [
        [cell.strip() for cell in line.strip().strip(bar).split(bar)]
        for line in output.splitlines()
        if bar in line
    ]


class WorkerProcess:
    """`keel worker` in a subprocess (with the test tasks imported), its output kept for diagnostics."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.output = bytearray()
        self._drain = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self.output += chunk

    @classmethod
    async def start(cls, test_database: Any) -> WorkerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import tests.job_tasks; from keel.cli import app; app(['worker', '--queue', 'tests'])",
            cwd=BACKEND_DIR,
            env=keel_env(
                test_database,
                KEEL_WORKER_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
                KEEL_WORKER_STALLED_AFTER_SECONDS=str(STALLED_AFTER_SECONDS),
                KEEL_LOG_FORMAT="console",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc)

    def log(self) -> str:
        return f"--- worker {self.proc.pid} output ---\n{self.output.decode(errors='replace')[-4000:]}"

    async def kill(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        code = await asyncio.wait_for(self.proc.wait(), timeout=10)
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drain, timeout=5)
        return code


# --- 1. enqueue is part of the unit of work ------------------------------------------------------------


async def test_job_enqueued_in_a_committed_unit_of_work_exists_with_its_org_id(
    test_database: Any, org_a: Any
) -> None:
    async with job_unit_of_work(runtime_database(), org_a.id) as uow:
        job_id = await enqueue(uow, job_tasks.record, entity_id="e-1")
        assert job_id is not None
        # Not visible to anyone else (a worker) until the transaction commits.
        assert await job_row(test_database, job_id) is None

    row = await job_row(test_database, job_id)
    assert row is not None
    assert row["status"] == "todo"
    assert row["task_name"] == "tests.record"
    assert row["queue_name"] == job_tasks.QUEUE
    assert row["args"] == {"org_id": str(org_a.id), "entity_id": "e-1"}


async def test_job_enqueued_in_a_rolled_back_unit_of_work_never_exists(
    test_database: Any, org_a: Any
) -> None:
    enqueued: list[int | None] = []

    async def enqueue_then_fail() -> None:
        async with job_unit_of_work(runtime_database(), org_a.id) as uow:
            enqueued.append(await enqueue(uow, job_tasks.record, entity_id="e-1"))
            raise Rollback

    with pytest.raises(Rollback):
        await enqueue_then_fail()

    [job_id] = enqueued
    assert job_id is not None
    assert await job_row(test_database, job_id) is None
    assert await jobs_of_task(test_database, "tests.record") == []


async def test_delayed_job_is_scheduled_for_later(test_database: Any, org_a: Any) -> None:
    before = datetime.now(UTC)
    job_id = await enqueue_committed(
        org_a.id, job_tasks.record, delay=timedelta(minutes=10), entity_id="later"
    )
    rows = await admin_query(
        test_database, "SELECT scheduled_at FROM procrastinate.procrastinate_jobs WHERE id = %s", job_id
    )
    scheduled_at = rows[0]["scheduled_at"]
    assert before + timedelta(minutes=10) <= scheduled_at <= datetime.now(UTC) + timedelta(minutes=10)


# --- 2. dedupe keys -----------------------------------------------------------------------------------


async def test_second_enqueue_with_a_waiting_dedupe_key_is_dropped_and_the_transaction_still_commits(
    test_database: Any, org_a: Any
) -> None:
    first = await enqueue_committed(org_a.id, job_tasks.record, dedupe_key="nightly", entity_id="first")

    async with job_unit_of_work(runtime_database(), org_a.id) as uow:
        second = await enqueue(uow, job_tasks.record, dedupe_key="nightly", entity_id="second")
        assert second is None
        # The surrounding transaction is still usable: later work in it runs and commits.
        await record_event(uow, "tests.after_dedupe", entity_type=job_tasks.ENTITY_TYPE, entity_id="after")
        visible = await uow.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "tests.after_dedupe")
        )
        assert visible == 1

    assert await audit_count(test_database, "tests.after_dedupe", "after") == 1
    jobs = await jobs_of_task(test_database, "tests.record")
    assert [(j["id"], j["args"]["entity_id"]) for j in jobs] == [(first, "first")]


async def test_work_done_before_a_deduplicated_enqueue_still_commits(test_database: Any, org_a: Any) -> None:
    await enqueue_committed(org_a.id, job_tasks.record, dedupe_key="nightly", entity_id="first")

    async with job_unit_of_work(runtime_database(), org_a.id) as uow:
        await record_event(uow, "tests.before_dedupe", entity_type=job_tasks.ENTITY_TYPE, entity_id="before")
        assert await enqueue(uow, job_tasks.record, dedupe_key="nightly", entity_id="second") is None
    # The unit of work exited without an error, so its change must be there.
    assert await audit_count(test_database, "tests.before_dedupe", "before") == 1


async def test_dedupe_keys_are_scoped_to_one_organisation(test_database: Any, org_a: Any, org_b: Any) -> None:
    await enqueue_committed(org_a.id, job_tasks.record, dedupe_key="nightly", entity_id="a")
    await enqueue_committed(org_b.id, job_tasks.record, dedupe_key="nightly", entity_id="b")

    jobs = await jobs_of_task(test_database, "tests.record")
    assert sorted(j["args"]["org_id"] for j in jobs) == sorted([str(org_a.id), str(org_b.id)])


# --- 3. retries, `keel jobs failed`, `keel jobs retry` ------------------------------------------------


@pytest.mark.slow
async def test_job_that_always_fails_ends_failed_is_listed_by_the_cli_and_can_be_retried(
    test_database: Any, org_a: Any
) -> None:
    entity_id = f"always-{uuid4().hex[:8]}"
    job_id = await enqueue_committed(org_a.id, job_tasks.always_fails, entity_id=entity_id)
    succeeded_id = await enqueue_committed(org_a.id, job_tasks.record, entity_id="fine")

    async with in_process_worker(test_database):
        await wait_for(
            lambda: job_status(test_database, job_id),
            lambda status: status == "failed",
            seconds=20,
            what=f"job {job_id} to fail for good",
        )
        await wait_for(
            lambda: job_status(test_database, succeeded_id),
            lambda status: status == "succeeded",
            seconds=10,
            what=f"job {succeeded_id} to succeed",
        )

    runs = job_tasks.RETRIES + 1  # the first run, then `max_attempts` retries
    row = await job_row(test_database, job_id)
    assert row is not None
    assert row["attempts"] == runs
    assert await audit_count(test_database, job_tasks.ATTEMPT, entity_id) == runs
    assert await audit_count(test_database, job_tasks.EFFECT, entity_id) == 0  # each run rolled back

    # (Two CLI processes at once: each spends seconds importing the app.)
    (code, output), (refused_code, refused_output) = await asyncio.gather(
        keel_cli(test_database, "jobs", "failed"),
        # A job that has not failed cannot be "retried": the operator is told so.
        keel_cli(test_database, "jobs", "retry", str(succeeded_id)),
    )
    assert refused_code == 1, refused_output
    assert f"cannot retry job {succeeded_id}" in refused_output
    assert await job_status(test_database, succeeded_id) == "succeeded"

    assert code == 0, output
    listed = {cells[0]: cells for cells in table_rows(output)}
    assert set(listed) == {str(job_id)}, output
    assert listed[str(job_id)][1:4] == ["tests.always_fails", job_tasks.QUEUE, str(runs)], output
    assert str(org_a.id) in listed[str(job_id)][4], output

    code, output = await keel_cli(test_database, "jobs", "retry", str(job_id))
    assert code == 0, output
    assert f"job {job_id} queued again" in output
    row = await job_row(test_database, job_id)
    assert row is not None
    assert row["status"] == "todo"


async def test_job_that_fails_once_succeeds_on_its_second_attempt_with_one_effect(
    test_database: Any, org_a: Any
) -> None:
    entity_id = f"once-{uuid4().hex[:8]}"
    job_id = await enqueue_committed(org_a.id, job_tasks.fails_once, entity_id=entity_id)

    async with in_process_worker(test_database):
        await wait_for(
            lambda: job_status(test_database, job_id),
            lambda status: status in ("succeeded", "failed"),
            seconds=20,
            what=f"job {job_id} to finish",
        )

    row = await job_row(test_database, job_id)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("succeeded", 2)
    assert await audit_count(test_database, job_tasks.ATTEMPT, entity_id) == 2
    assert await audit_count(test_database, job_tasks.EFFECT, entity_id) == 1


# --- 4. tenant context inside jobs --------------------------------------------------------------------


async def test_tenant_job_sees_only_its_own_organisations_rows(
    test_database: Any, org_a: Any, org_b: Any
) -> None:
    # Org B has clearly more audit rows than org A.
    for n in range(3):
        await admin_query(
            test_database,
            "INSERT INTO keel.audit_events (org_id, category, actor, action, entity_type, entity_id) "
            "VALUES (%s, 'general', 'tests', 'tests.noise', 'test_job', %s)",
            org_b.id,
            f"noise-{n}",
        )
    counts = {
        str(r["org_id"]): int(r["n"])
        for r in await admin_query(
            test_database, "SELECT org_id, count(*) AS n FROM keel.audit_events GROUP BY org_id"
        )
    }
    assert counts[str(org_a.id)] >= 1
    assert counts[str(org_b.id)] > counts[str(org_a.id)]

    jobs = {
        org.id: await enqueue_committed(org.id, job_tasks.count_visible, entity_id=f"visible-{org.slug}")
        for org in (org_a, org_b)
    }
    async with in_process_worker(test_database):
        for job_id in jobs.values():
            await wait_for(
                lambda job_id=job_id: job_status(test_database, job_id),
                lambda status: status in ("succeeded", "failed"),
                seconds=15,
                what=f"job {job_id} to finish",
            )

    for org in (org_a, org_b):
        assert await job_status(test_database, jobs[org.id]) == "succeeded"
        seen = await admin_query(
            test_database,
            "SELECT org_id, after FROM keel.audit_events WHERE action = %s AND entity_id = %s",
            job_tasks.VISIBLE,
            f"visible-{org.slug}",
        )
        assert len(seen) == 1
        assert seen[0]["org_id"] == org.id
        assert seen[0]["after"] == {"count": counts[str(org.id)], "org_ids": [str(org.id)]}


# --- 5. a killed worker's job runs again, exactly once ------------------------------------------------


@pytest.mark.slow
async def test_job_of_a_killed_worker_runs_again_on_another_worker_and_takes_effect_once(
    test_database: Any, org_a: Any, tmp_path: Path
) -> None:
    entity_id = f"kill-{uuid4().hex[:8]}"
    release_file = tmp_path / "release"

    workers: list[WorkerProcess] = []

    def logs() -> str:
        return "\n".join(w.log() for w in workers)

    async def attempt_pids() -> list[int]:
        """The process id of each run of the job that started, in order."""
        rows = await admin_query(
            test_database,
            "SELECT after FROM keel.audit_events WHERE action = %s AND entity_id = %s ORDER BY created_at",
            job_tasks.ATTEMPT,
            entity_id,
        )
        return [int(r["after"]["pid"]) for r in rows]

    async def registered_workers() -> int:
        rows = await admin_query(
            test_database, "SELECT count(*) AS n FROM procrastinate.procrastinate_workers"
        )
        return int(rows[0]["n"])

    try:
        # Two workers, started together (each takes seconds to import the app).
        workers.extend(
            await asyncio.gather(WorkerProcess.start(test_database), WorkerProcess.start(test_database))
        )
        await wait_for(registered_workers, lambda n: n == 2, seconds=40, what="both workers", on_timeout=logs)
        job_id = await enqueue_committed(
            org_a.id, job_tasks.effect_after_release, entity_id=entity_id, release_file=str(release_file)
        )
        [first_pid] = await wait_for(
            attempt_pids, lambda pids: len(pids) >= 1, seconds=20, what="the job to start", on_timeout=logs
        )
        [busy] = [w for w in workers if w.proc.pid == first_pid]
        [other] = [w for w in workers if w is not busy]

        # While its worker is alive, the job is left alone, well past the stall threshold.
        await asyncio.sleep(STALLED_AFTER_SECONDS + 1)
        row = await job_row(test_database, job_id)
        assert row is not None
        assert (row["status"], row["attempts"]) == ("doing", 0), logs()
        assert await attempt_pids() == [first_pid]
        assert await audit_count(test_database, job_tasks.EFFECT, entity_id) == 0

        assert await busy.kill() == -signal.SIGKILL
        release_file.touch()  # from now on a run of the job goes through to its effect

        await wait_for(
            lambda: job_status(test_database, job_id),
            lambda status: status in ("succeeded", "failed"),
            seconds=30,
            what=f"job {job_id} to run again and finish",
            on_timeout=logs,
        )
        row = await job_row(test_database, job_id)
        assert row is not None
        assert row["status"] == "succeeded", logs()
        assert await attempt_pids() == [first_pid, other.proc.pid]  # the killed run, then the other worker's
        assert row["attempts"] == 2
        assert await audit_count(test_database, job_tasks.EFFECT, entity_id) == 1
    finally:
        for worker in workers:
            await worker.kill()


# --- 6. the idempotency-key purge ---------------------------------------------------------------------


def test_idempotency_key_purge_is_a_periodic_task_of_the_job_app() -> None:
    periodic = {
        (p.task.name, p.periodic_id): p.cron for p in job_app.periodic_registry.periodic_tasks.values()
    }
    assert periodic[("core.purge_idempotency_keys", "purge_idempotency_keys")] == "*/15 * * * *"
    assert job_app.tasks["core.purge_idempotency_keys"] is purge_idempotency_keys


async def test_idempotency_key_purge_removes_expired_keys_of_every_organisation_and_keeps_fresh_ones(
    test_database: Any, settings: Any, org_a: Any, org_b: Any
) -> None:
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    now = datetime.now(UTC)
    ages = {
        "expired-long-ago": ttl * 10,
        "expired-just-now": ttl + timedelta(minutes=5),
        "fresh-almost-expired": ttl - timedelta(minutes=5),
        "fresh": timedelta(minutes=1),
    }
    for org in (org_a, org_b):
        for key, age in ages.items():
            await admin_query(
                test_database,
                "INSERT INTO keel.idempotency_keys (org_id, key, fingerprint, status_code, created_at) "
                "VALUES (%s, %s, %s, 201, %s)",
                org.id,
                key,
                b"\0" * 32,
                now - age,
            )

    removed = await purge_idempotency_keys(timestamp=int(now.timestamp()))

    assert removed == 4
    left = await admin_query(test_database, "SELECT org_id, key FROM keel.idempotency_keys")
    assert sorted((r["org_id"], r["key"]) for r in left) == sorted(
        (org.id, key) for org in (org_a, org_b) for key in ("fresh", "fresh-almost-expired")
    )
