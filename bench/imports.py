"""CSV import benchmark: 100,000 rows through the import job, as a worker runs it.

    uv run --project backend --locked python bench/imports.py     # also run by `make bench`

Against a fresh `keel_bench_imports` database: one organisation with a member, a custom field and an
assignment rule (round-robin over a team of three). Three runs, each timed from the job's start to its
last commit:

1. 100,000 new accounts (name, domain, country, external id, tier, owner by e-mail for half the rows,
   the rule for the rest);
2. the same file again with `upsert_by: external_id`: 100,000 updates, every row's before-image kept
   in the ledger;
3. 100,000 contacts, each joined to its account by external id.

Then the rollback of the second import (putting 100,000 accounts back). Before each run the tables'
statistics are refreshed, as autovacuum would have done by then. Prints rows per second and
writes bench/results/imports.json (git-ignored). The goal (issue 5): 100,000 rows in under 60 s.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from cryptography.fernet import Fernet

DATABASE_URL = os.environ.get(
    "BENCH_IMPORTS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/keel_bench_imports"
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

from keel.core.db import runtime_database  # noqa: E402
from keel.core.platform import platform_unit_of_work  # noqa: E402
from keel.core.uow import job_unit_of_work  # noqa: E402
from keel.identity.users import add_membership, create_user  # noqa: E402
from keel.core.principal import Principal  # noqa: E402
from keel.imports import service  # noqa: E402
from keel.imports.schemas import ImportCreate  # noqa: E402
from keel.imports.tasks import run_import  # noqa: E402
from keel.models import AssignmentRule, CustomField, Team, TeamMember  # noqa: E402
from keel.onboarding.flows import onboard_organization  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COMMAND = "uv run --project backend --locked python bench/imports.py"
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
PASSWORD = "correct horse battery staple 42"


async def organisation() -> tuple[UUID, UUID, str]:
    async with platform_unit_of_work("bench") as uow:
        org, _ = await onboard_organization(uow, "Bench", f"bench-{uuid4().hex[:8]}")
    emails = [f"rep{n}@bench.example" for n in range(4)]
    async with job_unit_of_work(runtime_database(), org.id) as uow:
        users = []
        for email in emails:
            user = await create_user(uow, email, PASSWORD, verified=True)
            await add_membership(uow, user.id, "org_admin" if not users else "sales_rep")
            users.append(user.id)
        team = Team(org_id=org.id, name="Inbound")
        uow.session.add(team)
        await uow.session.flush()
        uow.session.add_all(TeamMember(org_id=org.id, team_id=team.id, user_id=u) for u in users[1:])
        uow.session.add(
            AssignmentRule(org_id=org.id, name="Inbound", record_type="account", position=1, team_id=team.id)
        )
        uow.session.add(
            CustomField(org_id=org.id, record_type="account", key="tier", label="Tier", type="select",
                        options=["gold", "silver", "bronze"])
        )  # fmt: skip
    return org.id, users[0], emails[0]


def accounts_csv(owner: str) -> str:
    lines = ["Ref,Company,Website,Country,Tier,Owner"]
    for n in range(ROWS):
        who = owner if n % 2 else ""
        lines.append(
            f"A-{n},Company {n} GmbH,company{n}.example,DE,{('gold', 'silver', 'bronze')[n % 3]},{who}"
        )
    return "\n".join(lines) + "\n"


def contacts_csv() -> str:
    lines = ["Ref,First,Last,Email,Account"]
    for n in range(ROWS):
        lines.append(f"C-{n},Ada,Lovelace {n},ada{n}@company{n}.example,A-{n}")
    return "\n".join(lines) + "\n"


def refresh_statistics() -> None:
    """What autovacuum does within a minute of a large change: without it, the planner takes tables
    just filled by the previous run for empty (foreign-key checks then scan them)."""
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("ANALYZE keel.accounts, keel.contacts, keel.deals, keel.contact_accounts")


async def timed_import(org: UUID, requester: UUID, body: dict[str, Any]) -> dict[str, Any]:
    refresh_statistics()
    principal = Principal(org_id=org, actor=f"user:{requester}", user_id=requester, record_scope="all")
    async with job_unit_of_work(runtime_database(), org) as uow:
        uow.user_id = requester
        imp = await service.create_import(uow, principal, ImportCreate.model_validate(body))
        import_id = imp.id
    started = time.perf_counter()
    await run_import(org_id=str(org), import_id=str(import_id))
    seconds = time.perf_counter() - started
    async with job_unit_of_work(runtime_database(), org) as uow:
        done = await service.get_import(uow, import_id)
        result = {
            "id": str(import_id),
            "status": done.status,
            "created": done.created,
            "updated": done.updated,
            "failed": done.failed,
            "seconds": round(seconds, 2),
            "rows_per_second": round(ROWS / seconds),
        }
    print(f"  {body['record_type']:8} {body.get('upsert_by') or 'create':12} {result}")
    assert done.status == "completed" and done.failed == 0, done.errors[:3]
    return result


async def main() -> None:
    recreate_database(DATABASE_URL)
    org, requester, owner = await organisation()
    encoded = base64.b64encode(accounts_csv(owner).encode()).decode()
    mapping = {"Ref": "external_id", "Company": "name", "Website": "domain", "Country": "country",
               "Tier": "custom.tier", "Owner": "owner_email"}  # fmt: skip
    print(f"importing {ROWS} rows per run")
    runs = {
        "accounts_created": await timed_import(
            org, requester, {"record_type": "account", "csv_base64": encoded, "mapping": mapping}
        ),
        "accounts_upserted": await timed_import(
            org,
            requester,
            {"record_type": "account", "csv_base64": encoded, "mapping": mapping, "upsert_by": "external_id"},
        ),
        "contacts_created": await timed_import(
            org,
            requester,
            {
                "record_type": "contact",
                "csv_base64": base64.b64encode(contacts_csv().encode()).decode(),
                "mapping": {"Ref": "external_id", "First": "first_name", "Last": "last_name", "Email": "email",
                            "Account": "account_external_id"},
            },
        ),
    }  # fmt: skip
    refresh_statistics()
    started = time.perf_counter()
    async with job_unit_of_work(runtime_database(), org) as uow:
        await service.rollback_import(uow, UUID(runs["accounts_upserted"]["id"]))
    rollback = round(time.perf_counter() - started, 2)
    print(f"  rollback of {ROWS} updates: {rollback} s")
    await runtime_database().dispose()
    RESULTS.mkdir(exist_ok=True)
    report = {
        "command": COMMAND,
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor(), "python": platform.python_version()},
        "rows": ROWS,
        "runs": runs,
        "rollback_seconds": rollback,
    }
    (RESULTS / "imports.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
