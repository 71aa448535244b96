"""Access-control benchmark: the permission check per request, and the audit write per state change.

    uv run --project backend --locked python bench/access.py     # also run by `make bench`

1. The permission check for a user's token and for an API key: what every API request pays after
   authentication. For a user: the organisation's role table from the process's cache (keyed by the
   access version the request already read with the organisation's policy), the grant of the token's
   roles, and `keel.access.dependencies.Authorization`. No database, no cache round trip.
2. One audit row per state change, through `record_event` in its own committed transaction (the
   hash-chain trigger, its advisory lock and the commit included), one writer and 8 concurrent writers
   in one organisation (they queue on the organisation's lock), against a fresh `keel_bench_access`
   database. Prints medians and p95s and writes bench/results/access.json (git-ignored).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from cryptography.fernet import Fernet

DATABASE_URL = os.environ.get(
    "BENCH_ACCESS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/keel_bench_access"
)
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    KEEL_ENV="prod",
    KEEL_LOG_LEVEL="WARNING",
    KEEL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
)
for _var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "REDIS_URL", "KEEL_REDIS_URL"):
    os.environ.pop(_var, None)

from benchdb import recreate_database  # noqa: E402

from keel.access.dependencies import Authorization  # noqa: E402
from keel.access.permissions import Permission  # noqa: E402
from keel.access.roles import API_KEY, grant_for, role_table  # noqa: E402
from keel.audit.service import verify_chain  # noqa: E402
from keel.core.audit_trail import record_event  # noqa: E402
from keel.core.db import runtime_database  # noqa: E402
from keel.core.platform import platform_unit_of_work  # noqa: E402
from keel.core.uow import job_unit_of_work  # noqa: E402
from keel.core.principal import Principal  # noqa: E402
from keel.onboarding.flows import onboard_organization  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COMMAND = "uv run --project backend --locked python bench/access.py"


def summary(samples: list[float], unit: str) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "unit": unit,
        "n": len(ordered),
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1], 3),
    }


async def time_permission_checks(org_id: Any, iterations: int) -> dict[str, Any]:
    check = Authorization(Permission.MEMBERS_MANAGE)
    user = Principal(org_id=org_id, actor="user:x", user_id=uuid4(), roles=("manager", "org_admin"))
    key = Principal(org_id=org_id, actor="api_key:x")
    async with job_unit_of_work(runtime_database(), org_id) as uow:
        await role_table(uow, org_id, 1)  # the first request of this access version reads it once

        async def user_check() -> None:
            grant = grant_for(await role_table(uow, org_id, 1), user.roles)
            await check(replace(user, permissions=grant.permissions, record_scope=grant.record_scope))

        async def key_check() -> None:
            await check(replace(key, permissions=API_KEY.permissions, record_scope=API_KEY.record_scope))

        results = {}
        for name, run in (("user_token", user_check), ("api_key", key_check)):
            samples = []
            for _ in range(iterations):
                start = time.perf_counter_ns()
                await run()
                samples.append((time.perf_counter_ns() - start) / 1000)
            results[name] = summary(samples, "µs")
    return results


async def one_audited_change(org_id: Any, n: int) -> float:
    start = time.perf_counter()
    async with job_unit_of_work(runtime_database(), org_id) as uow:
        await record_event(uow, "bench.changed", entity_type="bench", entity_id=str(n), after={"n": n})
    return (time.perf_counter() - start) * 1000


async def new_org() -> Any:
    async with platform_unit_of_work("bench") as uow:
        org, _ = await onboard_organization(uow, "Bench", f"bench-{uuid4().hex[:8]}")
    return org


async def time_audit_writes(rows: int, writers: int) -> dict[str, Any]:
    org = await new_org()
    sequential = [await one_audited_change(org.id, n) for n in range(rows)]

    async def writer(first: int) -> list[float]:
        return [await one_audited_change(org.id, n) for n in range(first, rows * 2, writers)]

    start = time.perf_counter()
    batches = await asyncio.gather(*(writer(rows + i) for i in range(writers)))
    elapsed = time.perf_counter() - start
    concurrent = [ms for batch in batches for ms in batch]
    async with job_unit_of_work(runtime_database(), org.id) as uow:
        checked, breaks = await verify_chain(uow)
    return {
        "one_writer": summary(sequential, "ms"),
        "concurrent": {
            **summary(concurrent, "ms"),
            "writers": writers,
            "rows_per_s": round(len(concurrent) / elapsed, 1),
        },
        "chain_checked": checked,
        "chain_breaks": len(breaks),
    }


async def main() -> None:
    recreate_database(DATABASE_URL)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": COMMAND,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "cpu": platform.processor(),
        },
        "permission_check": await time_permission_checks((await new_org()).id, 50_000),
        "audit_write": await time_audit_writes(1_000, 8),
    }
    await runtime_database().dispose()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "access.json").write_text(json.dumps(result, indent=2))
    check, audit = result["permission_check"], result["audit_write"]
    user, key = check["user_token"], check["api_key"]
    print(
        f"permission check, µs median/p95: user token {user['median']}/{user['p95']}, "
        f"API key {key['median']}/{key['p95']}"
    )
    print(
        f"audited change (own transaction), ms median/p95: one writer {audit['one_writer']['median']}/"
        f"{audit['one_writer']['p95']}; {audit['concurrent']['writers']} writers "
        f"{audit['concurrent']['median']}/{audit['concurrent']['p95']} "
        f"({audit['concurrent']['rows_per_s']} rows/s); chain of {audit['chain_checked']} rows, "
        f"{audit['chain_breaks']} breaks"
    )
    if audit["chain_breaks"]:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
