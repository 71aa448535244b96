"""CRM benchmark at 1,000 organisations: filtered lists, search and the customer summary, through the API.

    uv run --project backend --locked python bench/crm.py          # also run by `make bench`
    uv run --project backend --locked python bench/crm.py --help

Steps, unattended (about 9 minutes on the 2-core reference machine):
 1. drop + create the database `keel_bench_crm` (or the one named by BENCH_CRM_DATABASE_URL; its name must
    contain "bench"), migrate, and seed 1,000 organisations as onboarding leaves them (an API key, the
    default pipeline and its stages) with 10 members each (an admin, a manager, 8 sales reps, one team),
    200,000 accounts, 1,000,000 contacts, 200,000 deals, 30,000 tickets and 300,000 activities
    (superuser SQL, bench/crm_seed.sql). The seeded tables' plain indexes are dropped for the load and
    created again from their own definitions; every foreign key is checked after it; then VACUUM ANALYZE;
 2. capture the SQL each measured request runs (the app in-process, one request each) and EXPLAIN
    (ANALYZE, BUFFERS) it as keel_app, with a custom plan and with the generic plan that a prepared
    statement may switch to (bench/results/crm-explain.txt);
 3. start the API with `keel serve` (2 workers; Redis db 13 holds the shared state, so
    the summary cache is shared by the workers), check answers against the database, then drive it with
    wrk (bench/crm_requests.lua), 32 connections, each request with its organisation's API key:
      - lists: contacts by owner and tag, deals by stage and status, accounts by tag (target p95 < 20 ms;
        CPU per request: the API's <= 1.5 ms, with PostgreSQL's <= 3 ms);
      - search: full names, misspelled names and partial e-mail addresses (target p95 < 50 ms; CPU per
        search, the API's and PostgreSQL's, <= 5 ms);
      - the customer summary, cached (2,000 accounts whose summary is in Redis: every response must say
        `Cache-Status: keel; hit`) and uncached (each request an account nobody asked for before, so every
        summary is computed: `fwd=miss`);
    then each again with 1 connection, for the latency of a request that does not queue;
 4. print a summary and write bench/results/crm.json (git-ignored). The API is always stopped at the end.

Options: see --help; --reuse keeps the database seeded by the previous run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import psycopg
from benchdb import recreate_database, statements_sent
from procstat import machine_ticks, process_ticks, ticks_since_boot, wait_for_quiet
from psycopg import sql
from redis import Redis

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
REQUESTS_DIR = RESULTS / "crm-requests"  # wrk's request files hold API secrets (bench/results is ignored)
COMMAND = "uv run --project backend --locked python bench/crm.py"
DATABASE_URL = os.environ.get("BENCH_CRM_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/keel_bench_crm")
REDIS_URL = os.environ.get("BENCH_CRM_REDIS_URL", "redis://127.0.0.1:6379/13")
TARGETS_P95_MS = {"list": 20.0, "search": 50.0}
# CPU per request (issue 13): (the API's, the API's and PostgreSQL's together), in ms.
TARGETS_CPU_MS: dict[str, tuple[float | None, float]] = {
    "list": (1.5, 3.0),
    "summary": (1.5, 3.0),
    "search": (None, 5.0),
}
SEEDED_TABLES = (
    "accounts",
    "contacts",
    "contact_accounts",
    "deals",
    "deal_stage_changes",
    "tickets",
    "activities",
)
ACCOUNTS = 200  # per organisation (crm_seed.sql); contacts 1 + (c - 1) % 200 belong to account a
CACHED_ACCOUNTS = range(1, 3)  # per organisation: summaries kept in Redis for the cached runs
CHECK_ACCOUNTS = range(3, 11)  # per organisation: for the answer checks and the captured SQL
UNCACHED_ACCOUNTS = range(11, ACCOUNTS + 1)  # asked for once each, in the uncached runs only
SEARCH_KINDS = ("full_name", "misspelled_name", "partial_email")
CONTACT_TAGS = ("churn-risk", "decision-maker", "event-2026", "newsletter", "partner", "vip")  # crm_seed.sql

# Keel reads its settings from the environment on first use (get_settings is cached, and nothing reads it
# at import): everything below, the in-process app and `keel serve` use the bench database and Redis.
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    REDIS_URL=REDIS_URL,
    KEEL_ENV="prod",
    KEEL_LOG_LEVEL="WARNING",
    KEEL_RATE_LIMIT="100000000/minute",
    KEEL_PLAN_RATE_LIMITS='{"standard": "100000000/minute"}',
)
for _var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "KEEL_REDIS_URL"):
    os.environ.pop(_var, None)


def log(message: str) -> None:
    print(f"[crm {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    pass


def one(conn: psycopg.Connection[Any], query: str | sql.Composable, params: Any = None) -> tuple[Any, ...]:
    """The single row a query returns."""
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise BenchError(f"no row from {query!r}")
    return tuple(row)


def _md5_uuid(label: str) -> str:
    return str(uuid.UUID(hashlib.md5(label.encode(), usedforsecurity=False).hexdigest()))


def org_id(n: int) -> str:
    """Organisation n's id, as crm_seed.sql derives it."""
    return _md5_uuid(f"keel-bench-org-{n}")


def record_id(kind: str, n: int, number: int) -> str:
    """The id crm_seed.sql gives record `number` of `kind` (user, account, contact, stage...) in org n."""
    return _md5_uuid(f"keel-bench-{kind}-{n}-{number}")


T = TypeVar("T")


def shuffled(items: Sequence[T], salt: str) -> list[T]:
    """A fixed shuffle (the same every run): by a hash of each item's position."""
    order = sorted(range(len(items)), key=lambda i: hashlib.sha256(f"{salt}{i}".encode()).digest())
    return [items[i] for i in order]


def database_name() -> str:
    return DATABASE_URL.rsplit("/", 1)[1]


# --------------------------------------------------------------------------------------------------
# The machine: other work skews every figure, so wait for quiet and account for every core


class CpuWindow:
    """The cores used during a measurement, by group: the API, PostgreSQL (this database's backends and
    the server's own processes), Redis, wrk, this script, and other work on the machine."""

    def __init__(self, api_pgid: int | None) -> None:
        self.api_pgid = api_pgid
        self.report: dict[str, float] = {}

    def _group(self, name: str, pgrp: int, cmdline: str) -> str:
        if self.api_pgid is not None and pgrp == self.api_pgid:
            return "api"
        if name == "postgres":
            parts = (
                cmdline.split()
            )  # a backend: "postgres: 15/main: keel_app keel_bench_crm 127.0.0.1(…) idle"
            if len(parts) >= 5 and "(" in parts[4]:
                return "postgres" if parts[3] == database_name() else "other"
            return "postgres"
        if name.startswith("redis-server"):
            return "redis"
        if name == "wrk":
            return "wrk"
        return "bench" if pgrp == os.getpgrp() else "other"

    def __enter__(self) -> Self:
        self.boot_ticks = ticks_since_boot()
        self.start = process_ticks()
        self.machine_start = machine_ticks()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        end = process_ticks()
        elapsed = time.monotonic() - self.started
        total, idle = (e - s for e, s in zip(machine_ticks(), self.machine_start, strict=True))
        hz = os.sysconf("SC_CLK_TCK")
        used = dict.fromkeys(("api", "postgres", "redis", "wrk", "bench", "other"), 0.0)
        for pid, (name, pgrp, ticks, started, cmdline) in end.items():
            before = self.start.get(pid)
            if before is not None and before[3] == started:
                delta = ticks - before[2]
            else:  # begun during the window (a process seen for the first time but older is left out)
                delta = ticks if started >= self.boot_ticks else 0
            if delta > 0:
                used[self._group(name, pgrp, cmdline)] += delta / hz
        cores = os.cpu_count() or 1
        self.report = {f"{group}_cores": round(seconds / elapsed, 2) for group, seconds in used.items()}
        self.report["machine_busy_cores"] = round(cores * (total - idle) / total, 2) if total else 0.0


# --------------------------------------------------------------------------------------------------
# 1. Database and seed


def index_definitions(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The plain indexes (none backs a constraint) of the seeded tables: name -> CREATE INDEX."""
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relnamespace = 'keel'::regnamespace AND t.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        (list(SEEDED_TABLES),),
    ).fetchall()
    return dict(rows)


def foreign_key_checks(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Per foreign key of the seeded tables (and the onboarding and member tables), a query counting the
    rows whose referenced row is missing."""
    rows = conn.execute(
        """
        SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
               array_agg(a.attname ORDER BY k.ord), array_agg(fa.attname ORDER BY k.ord)
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, fcol, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
        JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fcol
        JOIN pg_class t ON t.oid = c.conrelid
        WHERE c.contype = 'f' AND t.relnamespace = 'keel'::regnamespace AND t.relname = ANY(%s)
        GROUP BY 1, 2, 3
        ORDER BY 1
        """,
        ([*SEEDED_TABLES, "api_keys", "pipelines", "stages", "memberships", "teams", "team_members"],),
    ).fetchall()
    checks = {}
    for name, child, parent, columns, parent_columns in rows:
        present = " AND ".join(f"ch.{c} IS NOT NULL" for c in columns)
        match = " AND ".join(f"p.{pc} = ch.{c}" for c, pc in zip(columns, parent_columns, strict=True))
        checks[name] = (
            f"SELECT count(*) FROM {child} ch WHERE {present} "
            f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})"
        )
    return checks


def seed(orgs: int, key_base: str, extra: Sequence[Path] = (), **settings: str) -> dict[str, Any]:
    """A fresh database, migrated, then seeded by crm_seed.sql and the `extra` scripts (in its
    transaction, with `settings` as `bench.<name>`); returns the time of each step."""
    from keel.organizations.schemas import OrganizationSettings

    timings: dict[str, Any] = {}
    started = time.monotonic()
    recreate_database(DATABASE_URL)
    timings["migrate_s"] = round(time.monotonic() - started, 1)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        # Building an index once is much faster than growing it row by row (the trigram and full-text
        # GIN indexes above all); each is created again from its own definition below.
        indexes = index_definitions(conn)
        for name in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(*name.split("."))))
        conn.execute(
            "SELECT set_config('bench.orgs', %s, false), set_config('bench.key_base', %s, false), "
            "set_config('bench.settings', %s, false)",
            (str(orgs), key_base, json.dumps(OrganizationSettings().model_dump(mode="json"))),
        )
        started = time.monotonic()
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", (f"bench.{name}", value))
        with conn.transaction():
            for script in (BENCH_DIR / "crm_seed.sql", *extra):
                conn.execute(script.read_text())
        timings["insert_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in indexes.values():
            conn.execute(statement)
        if index_definitions(conn) != indexes:
            raise BenchError("the indexes created again differ from the migrated schema's")
        timings["create_indexes_s"] = round(time.monotonic() - started, 1)
        timings["indexes_recreated"] = len(indexes)
        started = time.monotonic()
        broken = {name: one(conn, query)[0] for name, query in foreign_key_checks(conn).items()}
        if any(broken.values()):
            raise BenchError(
                f"rows without the row they refer to: { {k: v for k, v in broken.items() if v} }"
            )
        timings["foreign_keys_checked"] = len(broken)
        timings["check_foreign_keys_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        conn.execute("VACUUM (ANALYZE)")  # statistics above all: plans made on an unanalysed seed are bad
        conn.execute("CHECKPOINT")
        timings["vacuum_analyze_s"] = round(time.monotonic() - started, 1)
    return timings


def data_profile() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for table in ("organizations", "users", "memberships", *SEEDED_TABLES):
            rows, size, index_size = one(
                conn,
                sql.SQL(
                    "SELECT count(*), pg_size_pretty(pg_table_size({t})), "
                    "pg_size_pretty(pg_indexes_size({t})) "
                    "FROM keel.{i}"
                ).format(t=sql.Literal(f"keel.{table}"), i=sql.Identifier(table)),
            )
            out[table] = {"rows": rows, "table": size, "indexes": index_size}
        out["database_size"] = one(conn, "SELECT pg_size_pretty(pg_database_size(current_database()))")[0]
        out["deals_by_outcome"] = dict(
            conn.execute(
                "SELECT s.outcome, count(*) FROM keel.deals d "
                "JOIN keel.stages s ON s.id = d.stage_id GROUP BY 1"
            ).fetchall()
        )
        out["migration"] = one(conn, "SELECT version_num FROM keel.alembic_version")[0]
    return out


# --------------------------------------------------------------------------------------------------
# 2. The requests: per scenario one line per request (organisation, path), organisations interleaved


@dataclass
class Scenario:
    name: str
    kind: str  # "list", "search" or "summary": which target applies
    describe: str
    lines: list[tuple[int, str]]
    cache: str | None = None  # "hit" or "miss": what every response's Cache-Status must say
    concurrent: bool = True  # measured with --connections (and always with one connection)


def search_queries(conn: psycopg.Connection[Any], n: int) -> dict[str, tuple[str, str]]:
    """Three searches for one contact of organisation n: kind -> (query, the contact's id)."""
    contact = record_id("contact", n, 1 + (n * 37) % 800)
    first, last, email = one(
        conn, "SELECT first_name, last_name, email FROM keel.contacts WHERE id = %s", (contact,)
    )
    middle = len(last) // 2  # two letters of the last name swapped: "Garcia" -> "Gacria"
    misspelled = last[: middle - 1] + last[middle] + last[middle - 1] + last[middle + 1 :]
    return {
        "full_name": (f"{first} {last}", contact),
        "misspelled_name": (f"{first} {misspelled}", contact),
        "partial_email": (email.split("@")[0][: len(first) + 4], contact),  # "maria.garc"
    }


def contact_filter(n: int) -> str:
    """Organisation n's contacts of one sales rep with one tag (each contact has a tag with p = 1/8)."""
    return f"owner_id={record_id('user', n, 3 + n % 8)}&tag={CONTACT_TAGS[n % len(CONTACT_TAGS)]}"


def summary_path(n: int, account: int) -> str:
    return f"/api/v1/accounts/{record_id('account', n, account)}/summary"


def build_scenarios(orgs: int) -> tuple[list[Scenario], dict[int, dict[str, tuple[str, str]]]]:
    with psycopg.connect(DATABASE_URL) as conn:
        queries = {n: search_queries(conn, n) for n in range(1, orgs + 1)}
    order = shuffled(range(1, orgs + 1), "orgs")

    def per_org(path: Callable[[int], str]) -> list[tuple[int, str]]:
        return [(n, path(n)) for n in order]

    def search(kind: str) -> Callable[[int], str]:
        return lambda n: "/api/v1/search?" + urllib.parse.urlencode({"q": queries[n][kind][0]})

    tags = ("enterprise", "smb", "partner", "key-account", "renewal-2027", "emea", "americas")
    searches = {kind: per_org(search(kind)) for kind in SEARCH_KINDS}
    fresh = shuffled([(n, a) for n in range(1, orgs + 1) for a in UNCACHED_ACCOUNTS], "fresh")
    scenarios = [
        Scenario(
            "contacts_by_owner_tag",
            "list",
            "GET /api/v1/contacts?owner_id=<a sales rep>&tag=<a tag>&limit=50",
            per_org(lambda n: f"/api/v1/contacts?{contact_filter(n)}&limit=50"),
        ),
        Scenario(
            "deals_by_stage_open",
            "list",
            "GET /api/v1/deals?stage_id=<an open stage>&status=open&limit=50",
            per_org(
                lambda n: f"/api/v1/deals?stage_id={record_id('stage', n, 1 + n % 3)}&status=open&limit=50"
            ),
        ),
        Scenario(
            "accounts_by_tag",
            "list",
            "GET /api/v1/accounts?tag=<a tag>&limit=50",
            per_org(lambda n: f"/api/v1/accounts?tag={tags[n % len(tags)]}&limit=50"),
        ),
        Scenario(
            "search_mixed",
            "search",
            "GET /api/v1/search?q=<a full name, a misspelled name, a partial e-mail in turn>",
            [line for trio in zip(*searches.values(), strict=True) for line in trio],
        ),
        *(
            Scenario(
                f"search_{kind}",
                "search",
                f"GET /api/v1/search?q=<{kind.replace('_', ' ')}>",
                lines,
                None,
                False,
            )
            for kind, lines in searches.items()
        ),
        Scenario(
            "summary_cached",
            "summary",
            "GET /api/v1/accounts/{id}/summary, 2,000 accounts whose summary is in Redis",
            [(n, summary_path(n, a)) for a in CACHED_ACCOUNTS for n in order],
            cache="hit",
        ),
        Scenario(
            "summary_uncached",
            "summary",
            "GET /api/v1/accounts/{id}/summary, each request an account not asked for before",
            [(n, summary_path(n, a)) for n, a in fresh],
            cache="miss",
        ),
    ]
    return scenarios, queries


def write_requests(name: str, lines: Sequence[tuple[int, str]], key_base: str) -> Path:
    REQUESTS_DIR.mkdir(parents=True, exist_ok=True)
    REQUESTS_DIR.chmod(0o700)
    path = REQUESTS_DIR / f"{name}.tsv"
    path.write_text("".join(f"{key_base}{n:06d}\t{url}\n" for n, url in lines))
    return path


# --------------------------------------------------------------------------------------------------
# 3. The SQL each request runs, and its plans


@dataclass
class Statement:
    text: str
    params: Any


async def capture(requests: dict[str, tuple[str, str]]) -> dict[str, list[Statement]]:
    """name -> the statements one request (secret, path) runs: the app in-process, as psycopg sends them."""
    from keel.core.cache import get_shared_state
    from keel.core.db import runtime_database
    from keel.main import create_app

    app = create_app()
    out: dict[str, list[Statement]] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for name, (secret, path) in requests.items():
            headers = {"Authorization": f"Bearer {secret}"}
            # The first request of an organisation reads its policy into the cache; capture a later one.
            await client.get("/api/v1/search?q=warm", headers=headers)
            with statements_sent() as sent:
                response = await client.get(path, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"in-process {name}: HTTP {response.status_code}: {response.text[:300]}")
            out[name] = [Statement(sql, params) for sql, params in sent]
    await runtime_database().dispose()
    redis = getattr(get_shared_state(), "redis", None)
    if redis is not None:
        await redis.aclose()
    return out


def _numbered(text: str) -> tuple[str, list[str]]:
    """psycopg's %(name)s placeholders as $1, $2... (for PREPARE), and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, text).replace("%%", "%"), names


def _ms(plan: str, what: str) -> float | None:
    """A plan's "Planning Time" or "Execution Time", in ms."""
    match = re.search(rf"{what} Time: ([\d.]+) ms", plan)
    return float(match.group(1)) if match else None


def explain(statements: list[Statement]) -> list[dict[str, Any]]:
    """Replays one request's statements as keel_app in one transaction: the key lookup (which binds the
    tenant) and set_config as they are, every other statement under EXPLAIN (ANALYZE, BUFFERS), with the
    parameters' values (a custom plan), and prepared with the generic plan that psycopg's prepared
    statements (from a statement's sixth use on a connection) may switch to. Then the statement is
    prepared once more and run 10 times, to see which of the two plans PostgreSQL's plan cache picks."""
    from keel.core.config import get_settings
    from keel.core.db import APP_ROLE, libpq_url, role_url

    plans = []
    with psycopg.connect(libpq_url(role_url(get_settings(), APP_ROLE))) as conn:
        for number, st in enumerate(statements):
            if "authenticate_api_key" in st.text or st.text.lstrip().upper().startswith("SELECT SET_CONFIG"):
                conn.execute(st.text, st.params)
                continue
            custom = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + st.text, st.params))
            prepared, names = _numbered(st.text)
            conn.execute(f"PREPARE bench_q{number} AS {prepared}")
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            values = ", ".join(sql.Literal(st.params[name]).as_string(conn) for name in names)
            run = f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_q{number}" + (f"({values})" if names else "")
            generic = "\n".join(r[0] for r in conn.execute(run))
            conn.execute("SET LOCAL plan_cache_mode = auto")
            conn.execute(f"PREPARE bench_auto{number} AS {prepared}")
            for _ in range(10):
                conn.execute(f"EXECUTE bench_auto{number}" + (f"({values})" if names else ""))
            generic_runs, custom_runs = one(
                conn,
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
                (f"bench_auto{number}",),
            )
            plans.append(
                {
                    "statement": " ".join(st.text.split()),
                    "custom_plan": custom,
                    "custom_planning_ms": _ms(custom, "Planning"),
                    "custom_execution_ms": _ms(custom, "Execution"),
                    "generic_plan": generic,
                    "generic_planning_ms": _ms(generic, "Planning"),
                    "generic_execution_ms": _ms(generic, "Execution"),
                    "plan_cache_after_10_runs": {"generic": generic_runs, "custom": custom_runs},
                }
            )
        conn.rollback()
    return plans


# --------------------------------------------------------------------------------------------------
# 4. The API under wrk


class ApiProcess:
    def __init__(self, workers: int, pool_size: int, port: int) -> None:
        self.workers = workers
        self.port = port
        self.log_path = RESULTS / "crm-api.log"
        self.env = {
            **os.environ,
            "KEEL_API_WORKERS": str(workers),
            "KEEL_DB_POOL_SIZE": str(pool_size),
            "KEEL_DB_MAX_OVERFLOW": "4",
        }
        uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
        run = [uv, "run", "--project", "backend", "--locked"]
        self.cmd = [*run, "keel", "serve", "--port", str(port)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise BenchError(f"port {self.port} is already in use")
        log(f"starting the API (keel serve) on port {self.port}, {self.workers} workers")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300  # slow to import on a busy machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the API exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if http_get(self.url("/readyz"), timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise BenchError(f"the API is not ready after 300 s; see {self.log_path}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)  # its own session: uv, uvicorn and the workers
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # a worker that outlived its parent
        self._log.close()
        self.proc = None


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing it with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")


def run_wrk(port: int, requests: Path, seconds: int, connections: int, cache: bool) -> dict[str, Any]:
    threads = min(2, connections)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(BENCH_DIR / "crm_requests.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        str(requests),
        str(threads),
        *(["cache"] if cache else []),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr.strip()} {out.stdout[-500:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    elapsed = result["duration_us"] / 1e6
    errors = result["errors"]
    return {
        "connections": connections,
        "duration_s": round(elapsed, 2),
        "requests": result["requests"],
        "rps": round(result["requests"] / elapsed, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in result["latency_us"].items()},
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        **({"cache": result["cache"]} if cache else {}),
    }


def fill_cache(api: ApiProcess, requests: Path, threads: int = 16) -> float:
    """Asks once for every summary of the file (so each is in the cache); returns the seconds it took."""
    started = time.monotonic()
    lines = [line.split("\t") for line in requests.read_text().splitlines()]

    def ask(line: list[str]) -> int:
        return http_get(api.url(line[1]), {"Authorization": f"Bearer {line[0]}"})[0]

    with ThreadPoolExecutor(threads) as pool:
        statuses = set(pool.map(ask, lines))
    if statuses != {200}:
        raise BenchError(f"filling the summary cache got HTTP {sorted(statuses)}")
    return round(time.monotonic() - started, 1)


def measure(
    api: ApiProcess, scenario: Scenario, requests: Path, connections: int, seconds: int, quiet_wait: float
) -> dict[str, Any]:
    quiet = wait_for_quiet(quiet_wait, log)
    with CpuWindow(api.pgid) as cpu:
        result = run_wrk(api.port, requests, seconds, connections, cache=scenario.cache is not None)
    result["cpu_cores"] = cpu.report
    result["quiet_before"] = quiet
    result["cpu_ms_per_request"] = {
        group: round(1000 * cpu.report[f"{group}_cores"] / max(result["rps"], 1), 2)
        for group in ("api", "postgres", "redis", "wrk")
    }
    if scenario.cache is not None:
        cache = result["cache"]
        expected = cache["hits"] if scenario.cache == "hit" else cache["others"]
        result["cache_as_expected"] = cache["not_ok"] == 0 and expected == cache["ok"] == result["requests"]
    lat = result["latency_ms"]
    log(
        f"  {scenario.name:<24} c{connections:<3}{result['rps']:8.1f} req/s  p50 {lat['p50']:7.1f}  "
        f"p95 {lat['p95']:7.1f}  p99 {lat['p99']:7.1f} ms  non-2xx {result['non_2xx']}  "
        f"cores: API {cpu.report['api_cores']:.2f}, PostgreSQL {cpu.report['postgres_cores']:.2f}, "
        f"other {cpu.report['other_cores']:.2f}" + (f"  cache {result['cache']}" if "cache" in result else "")
    )
    return result


# --------------------------------------------------------------------------------------------------
# Checks: the API answers what the database holds


def _get_json(api: ApiProcess, secret: str, path: str) -> tuple[Any, Any]:
    status, body, headers = http_get(api.url(path), {"Authorization": f"Bearer {secret}"})
    if status != 200:
        raise BenchError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    return json.loads(body), headers


def check_answers(
    api: ApiProcess, key_base: str, orgs: int, queries: dict[int, dict[str, tuple[str, str]]]
) -> dict[str, Any]:
    """Lists, summaries and search against the database for a few organisations; a wrong key gets 401.
    Returns how often each kind of search found the contact it was made from (top 20 hits)."""
    checked = sorted({1, 2, orgs // 2, orgs})
    with psycopg.connect(DATABASE_URL) as conn:
        for n in checked:
            secret = f"{key_base}{n:06d}"
            page, _ = _get_json(api, secret, f"/api/v1/contacts?{contact_filter(n)}&limit=50")
            newest = conn.execute(
                "SELECT id::text FROM keel.contacts WHERE org_id = %s AND owner_id = %s AND %s = ANY(tags) "
                "ORDER BY created_at DESC, id DESC LIMIT 50",
                (org_id(n), record_id("user", n, 3 + n % 8), CONTACT_TAGS[n % len(CONTACT_TAGS)]),
            ).fetchall()
            if not newest or [c["id"] for c in page["items"]] != [r[0] for r in newest]:
                raise BenchError(
                    f"org {n}: the contacts by owner and tag are not that owner's newest with it"
                )
            stage = record_id("stage", n, 1 + n % 3)
            page, _ = _get_json(api, secret, f"/api/v1/deals?stage_id={stage}&status=open&limit=50")
            (count,) = one(
                conn,
                "SELECT count(*) FROM keel.deals WHERE org_id = %s AND stage_id = %s",
                (org_id(n), stage),
            )
            if len(page["items"]) != min(50, count) or any(
                d["stage_id"] != stage or d["status"] != "open" for d in page["items"]
            ):
                raise BenchError(f"org {n}: the deals by stage are not that stage's")
            account = record_id("account", n, CHECK_ACCOUNTS[n % len(CHECK_ACCOUNTS)])
            first, _ = _get_json(api, secret, f"/api/v1/accounts/{account}/summary")
            second, headers = _get_json(api, secret, f"/api/v1/accounts/{account}/summary")
            if "hit" not in (headers.get("Cache-Status") or "") or first != second:
                raise BenchError(f"org {n}: a summary asked for twice was not served from the cache")
            truth = one(
                conn,
                "SELECT (SELECT count(*) FROM keel.deals d JOIN keel.stages s ON s.id = d.stage_id "
                "        WHERE d.account_id = %(a)s AND s.outcome = 'open'), "
                "       (SELECT count(*) FROM keel.tickets "
                "        WHERE account_id = %(a)s AND status IN ('open', 'pending'))",
                {"a": account},
            )
            if (first["open_deals"], first["open_tickets"]) != truth:
                raise BenchError(f"org {n}: the summary does not match the database")
    found = dict.fromkeys(SEARCH_KINDS, 0)
    sample = shuffled(range(1, orgs + 1), "search-sample")[:30]
    for n in sample:
        for kind, (query, contact) in queries[n].items():
            hits, _ = _get_json(
                api, f"{key_base}{n:06d}", "/api/v1/search?" + urllib.parse.urlencode({"q": query})
            )
            found[kind] += any(h["id"] == contact for h in hits)
    status, _, _ = http_get(api.url("/api/v1/contacts"), {"Authorization": "Bearer keel_sk_not-a-key"})
    if status != 401:
        raise BenchError(f"a wrong key got HTTP {status}, not 401")
    return {"organisations_checked": checked, "search_sample": len(sample), "search_found_the_contact": found}


# --------------------------------------------------------------------------------------------------


@contextmanager
def running_api(args: argparse.Namespace) -> Iterator[ApiProcess]:
    pool_size = args.pool_size or max(8, args.connections // args.workers)
    api = ApiProcess(args.workers, pool_size, args.port)
    try:
        api.start()
        yield api
    finally:
        api.stop()


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    with psycopg.connect(DATABASE_URL) as conn:
        version = one(conn, "SHOW server_version")[0]
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings "
                "WHERE name IN ('shared_buffers', 'work_mem', "
                "'effective_cache_size', 'random_page_cost', 'jit', 'max_connections')"
            ).fetchall()
        )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    changed = subprocess.run(
        ["git", "status", "--short", "backend"], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": next(
            (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?"
        ),
        "mem_gib": round(int(next(ln for ln in meminfo if ln.startswith("MemTotal")).split()[1]) / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": version,
        "postgres_settings": settings,
        "redis": Redis.from_url(REDIS_URL).info("server")["redis_version"],
        "wrk": wrk[0] if wrk else "?",
        "commit": commit.stdout.strip(),
        "backend_files_changed_since_commit": changed.stdout.splitlines(),
    }


def print_summary(report: dict[str, Any]) -> None:
    width = 160
    print("\n" + "=" * width)
    print(f"Keel CRM bench: {report['orgs']:,} organisations, {report['params']['workers']} API workers")
    print("=" * width)
    print(
        f"{'scenario':<24}{'conns':>6}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
        f"{'CPU ms/req: API':>17}{'PG':>6}  {'p95 target':<15}notes"
    )
    for name, entry in report["scenarios"].items():
        for label in ("concurrent", "single"):
            run = entry.get(label)
            if run is None:
                continue
            lat, cpu = run["latency_ms"], run["cpu_ms_per_request"]
            target = ""
            if label == "concurrent" and "target_p95_ms" in entry:
                target = f"< {entry['target_p95_ms']:.0f}: {'met' if entry['met'] else 'NOT met'}"
            notes = f"non-2xx {run['non_2xx']}"
            if (cpu_target := TARGETS_CPU_MS.get(entry["kind"])) is not None:
                api_max, total_max = cpu_target
                met = (api_max is None or cpu["api"] <= api_max) and cpu["api"] + cpu["postgres"] <= total_max
                shown = f"API <= {api_max}, " if api_max is not None else ""
                notes += f", CPU {shown}API+PG <= {total_max}: {'met' if met else 'NOT met'}"
            if "cache" in run:
                notes += f", Cache-Status hit {run['cache']['hits']} of {run['requests']}"
            print(
                f"{name:<24}{run['connections']:>6}{run['rps']:>8.1f}{lat['p50']:>8.1f}{lat['p95']:>8.1f}"
                f"{lat['p99']:>8.1f}{cpu['api']:>17.1f}{cpu['postgres']:>6.1f}  {target:<15}{notes}"
            )
    print("=" * width)
    print("SQL per request, as keel_app (ms): planning + execution, custom plan | generic plan | plan cache")
    for name, captured in report["sql"].items():
        for plan in captured["plans"]:
            table = re.search(r"FROM (keel\.\w+|\(SELECT)", plan["statement"])
            cache = plan["plan_cache_after_10_runs"]
            print(
                f"  {name:<24}{(table.group(1) if table else '?'):<22}"
                f"{plan['custom_planning_ms']:>6.2f} + {plan['custom_execution_ms']:<7.2f}|"
                f"{plan['generic_planning_ms']:>6.2f} + {plan['generic_execution_ms']:<7.2f}|"
                f" {cache['generic']} generic, {cache['custom']} custom"
            )
    checks = report["checks"]
    print(
        f"search found the contact it was made from (of {checks['search_sample']}): "
        f"{checks['search_found_the_contact']}"
    )
    print(
        f"plans: {RESULTS / 'crm-explain.txt'}; results: {RESULTS / 'crm.json'}; "
        f"elapsed {report['elapsed_s']} s"
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orgs", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2, help="KEEL_API_WORKERS (one per core)")
    p.add_argument(
        "--pool-size", type=int, default=0, help="KEEL_DB_POOL_SIZE per worker (connections/workers)"
    )
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=20, help="seconds of each run with --connections")
    p.add_argument("--single-duration", type=int, default=8, help="seconds of each run with one connection")
    p.add_argument("--warmup", type=int, default=5, help="seconds of load before each scenario's runs")
    p.add_argument("--first-warmup", type=int, default=20, help="seconds of mixed load once the API is up")
    p.add_argument("--port", type=int, default=8098)
    p.add_argument(
        "--quiet-wait", type=float, default=10, help="before each run, wait this long at most for quiet"
    )
    p.add_argument("--reuse", action="store_true", help="keep the database seeded by the previous run")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    state_file = RESULTS / "crm-state.json"
    report: dict[str, Any] = {
        "command": COMMAND,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": DATABASE_URL.rsplit("@", 1)[-1],
        "redis": REDIS_URL,
        "params": vars(args),
        "orgs": args.orgs,
    }
    if args.reuse and state_file.exists():
        state = json.loads(state_file.read_text())
        if state["orgs"] != args.orgs:
            raise BenchError(f"the database was seeded with {state['orgs']} organisations")
        key_base = state["key_base"]
        report["seed"] = {"reused": state["seeded_at"]}
        log(f"reusing the database seeded at {state['seeded_at']}")
    else:
        key_base = "keel_sk_" + secrets.token_urlsafe(30)
        log(f"seeding {args.orgs:,} organisations into {database_name()} (a few minutes)")
        report["seed"] = seed(args.orgs, key_base)
        state = {
            "key_base": key_base,
            "orgs": args.orgs,
            "seeded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        state_file.write_text(json.dumps(state))
        state_file.chmod(0o600)
        log(f"seeded: {report['seed']}")
    report["machine"] = machine_info()
    report["data"] = data_profile()

    scenarios, queries = build_scenarios(args.orgs)
    files: dict[str, Path] = {}
    for s in scenarios:
        if s.cache == "miss":  # disjoint slices: no account is asked for twice, in any run
            fifth = len(s.lines) // 5  # 38,000 requests for the warm-up and the single connection
            for label, part in (("warmup", slice(0, fifth)), ("single", slice(fifth, 2 * fifth))):
                files[f"{s.name}_{label}"] = write_requests(f"{s.name}_{label}", s.lines[part], key_base)
            files[f"{s.name}_concurrent"] = write_requests(
                f"{s.name}_concurrent", s.lines[2 * fifth :], key_base
            )
        else:
            files[s.name] = write_requests(s.name, s.lines, key_base)
    firsts = [s.lines[:1000] for s in scenarios if s.cache is None]
    files["warmup"] = write_requests(
        "warmup", [line for group in zip(*firsts, strict=False) for line in group], key_base
    )

    log("capturing the SQL of each request in-process, and its plans as keel_app")
    Redis.from_url(REDIS_URL).flushdb()  # this bench's own Redis database: nothing from an earlier run
    n, secret = 2, f"{key_base}{2:06d}"
    samples = {
        "contacts_by_owner_tag": (secret, f"/api/v1/contacts?{contact_filter(n)}&limit=50"),
        "deals_by_stage_open": (
            secret,
            f"/api/v1/deals?stage_id={record_id('stage', n, 1)}&status=open&limit=50",
        ),
        "accounts_by_tag": (secret, "/api/v1/accounts?tag=enterprise&limit=50"),
        **{
            f"search_{kind}": (secret, "/api/v1/search?" + urllib.parse.urlencode({"q": queries[n][kind][0]}))
            for kind in SEARCH_KINDS
        },
        "summary_uncached": (secret, summary_path(n, CHECK_ACCOUNTS[0])),
    }
    report["sql"] = {
        name: {"path": samples[name][1], "plans": explain(statements)}
        for name, statements in asyncio.run(capture(samples)).items()
    }
    Redis.from_url(REDIS_URL).flushdb()
    with (RESULTS / "crm-explain.txt").open("w") as out:
        for name, captured in report["sql"].items():
            for plan in captured["plans"]:
                out.write(f"### {name}: {captured['path']}\n{plan['statement']}\n\n-- custom plan\n")
                out.write(f"{plan['custom_plan']}\n\n-- generic plan\n{plan['generic_plan']}\n\n")
                out.write(f"-- plan cache, prepared and run 10 times: {plan['plan_cache_after_10_runs']}\n\n")

    report["scenarios"] = {}
    try:
        with running_api(args) as api:
            report["server"] = {
                "command": " ".join(api.cmd[1:]),
                "pool_size_per_worker": api.env["KEEL_DB_POOL_SIZE"],
            }
            report["checks"] = check_answers(api, key_base, args.orgs, queries)
            log(f"answers checked: {report['checks']}")
            log(f"warm-up: {args.first_warmup} s of every list and search in turn")
            run_wrk(api.port, files["warmup"], args.first_warmup, args.connections, cache=False)
            for s in scenarios:
                entry: dict[str, Any] = {"describe": s.describe, "kind": s.kind}
                if s.kind in TARGETS_P95_MS:
                    entry["target_p95_ms"] = TARGETS_P95_MS[s.kind]
                if s.cache == "hit":
                    entry["cache_filled_in_s"] = fill_cache(api, files[s.name])
                else:
                    warm = files[f"{s.name}_warmup" if s.cache == "miss" else s.name]
                    run_wrk(api.port, warm, args.warmup, args.connections, cache=False)
                for label, connections, seconds in (
                    ("concurrent", args.connections, args.duration),
                    ("single", 1, args.single_duration),
                ):
                    if label == "concurrent" and not s.concurrent:
                        continue
                    requests = files[f"{s.name}_{label}" if s.cache == "miss" else s.name]
                    entry[label] = measure(api, s, requests, connections, seconds, args.quiet_wait)
                report["scenarios"][s.name] = entry
    finally:
        report["elapsed_s"] = round(time.monotonic() - started, 1)

    failures = []
    for name, entry in report["scenarios"].items():
        for label in ("concurrent", "single"):
            run = entry.get(label)
            if run is None:
                continue
            if run["non_2xx"] or run["socket_errors"]:
                failures.append(
                    f"{name} ({label}): {run['non_2xx']} non-2xx, {run['socket_errors']} socket errors"
                )
            if run.get("cache_as_expected") is False:
                failures.append(f"{name} ({label}): Cache-Status was not what every response should say")
        if "target_p95_ms" in entry and "concurrent" in entry:
            entry["met"] = entry["concurrent"]["latency_ms"]["p95"] < entry["target_p95_ms"]
    report["checks_failed"] = failures
    (RESULTS / "crm.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_summary(report)
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    return 1 if failures else 0


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(2)
