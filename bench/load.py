"""Keel's load test: 1,000 signed-in users of 1,000 organisations working through the API at once.

    uv run --project backend --locked python bench/load.py            # the full run, about 20 minutes
    uv run --project backend --locked python bench/load.py --users 100 --duration 60 --no-knee --reuse

Steps, unattended and bounded in time:
 1. drop + create the database `keel_bench_load` (or BENCH_LOAD_DATABASE_URL's; its name must contain
    "bench"), migrate, and seed it with bench/crm_seed.sql (through bench/crm.py's `seed`: 1,000
    organisations, 10 members each, 200,000 accounts, 1,000,000 contacts, 200,000 deals, 30,000 tickets,
    300,000 activities) and bench/load_seed.sql (the members' password, 100,000 leads, 300,000 audit
    events over the last 150 days); register the web app's OAuth client `keel-web` and a signing key;
 2. start the API with `keel serve` (2 workers, KEEL_ENV=prod, shared state and limits in Redis db 12,
    flushed first; limits set so high that none refuses);
 3. sign every simulated user in through the authorization server, as the web app does: the sign-in
    form (password), /oauth/authorize with PKCE (S256) for the first-party client `keel-web`, and the
    code redeemed at /oauth/token for an access and a refresh token (16 sign-ins at a time);
 4. drive the API with Locust (FastHttpUser; bench/load_users.py, a process of its own on this
    machine): every simulated user is one member of one organisation and runs the CRM day's mix
    (`MIX` below) with a think time of 1-3 s: --users (1,000) for --duration (600 s) after the
    ramp; then, unless --no-knee, find the knee: users in steps of --knee-step every
    --knee-step-duration seconds until p95 passes 200 ms, then halving the interval (bounded by
    --knee-max-users and --knee-budget); after an overloaded run or step every user stops for 20 s
    first, so no step is measured on top of another's backlog;
 5. sample the CPU of the API's processes, PostgreSQL, Redis, Locust and everything else from /proc;
 6. print the figures against the targets (p95 < 50 ms overall, each kind's p95 < 100 ms, no failed
    request), write bench/results/load.json (git-ignored) and plot docs/load-test.png.
Every process it starts is stopped at the end, also on Ctrl-C, SIGTERM or a failure.

The exit status is 1 if a request failed; the latency targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procstat import machine_ticks, process_ticks, ticks_since_boot, wait_for_quiet

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
PLOT = REPO_ROOT / "docs" / "load-test.png"
COMMAND = "uv run --project backend --locked python bench/load.py"
DATABASE_URL = os.environ.get(
    "BENCH_LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/keel_bench_load"
)
REDIS_URL = os.environ.get("BENCH_LOAD_REDIS_URL", "redis://127.0.0.1:6379/12")
PASSWORD = "bench load correct horse battery staple 42"  # noqa: S105 - the seeded members' throwaway password
CLIENT_ID = "keel-web"  # keel.identity.clients.WEB_APP_CLIENT_ID, registered as `keel seed` does
REDIRECT_URI = "http://127.0.0.1:3000/auth/callback"
UNLIMITED = "100000000/minute"  # every limit: the load comes from one address and must never be refused
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')

TARGET_P95_MS = 50.0  # overall
TARGET_KIND_P95_MS = 100.0  # each kind of request
KNEE_P95_MS = 200.0

# The CRM day, per simulated user: kind -> weight (a task is drawn by weight, then 1-3 s of thought).
# Reads are about nine in ten; a record page or an update first reads the record (counted as its GET).
# Audit events are read by managers only (a Sales Rep has no audit:read); reps draw from the rest.
MIX: dict[str, float] = {
    "list contacts": 13,
    "list accounts": 10,
    "list deals": 10,
    "list leads": 5,
    "list tickets": 4,
    "list activities": 6,
    "list audit events": 2,
    "get account": 8,
    "get contact": 8,
    "get deal": 6,
    "account summary": 8,
    "search": 6,
    "create contact": 2,
    "create activity": 4,
    "update contact": 3,
    "update deal": 2,
    "refresh token": 1,
    "export contacts": 0.2,
}
DESCRIBE: dict[str, str] = {
    "list contacts": "GET /api/v1/contacts?limit=50: all, by tag, by owner = me, or by a seen account",
    "list accounts": "GET /api/v1/accounts?limit=50: all, by tag, customers, or owner = me",
    "list deals": "GET /api/v1/deals?limit=50: open, by an open stage, owner = me, or all",
    "list leads": "GET /api/v1/leads?limit=50: new, working, tagged hot, or all",
    "list tickets": "GET /api/v1/tickets?limit=50: open, a seen account's, or all",
    "list activities": "GET /api/v1/activities?limit=50: a seen account's, my open tasks, or all",
    "list audit events": "GET /api/v1/audit-events?limit=50: all, contacts, stage changes, the last 7 days",
    "get account": "GET /api/v1/accounts/{id} (an account seen in a list)",
    "get contact": "GET /api/v1/contacts/{id}",
    "get deal": "GET /api/v1/deals/{id}",
    "account summary": "GET /api/v1/accounts/{id}/summary (cached in Redis after the first ask)",
    "search": "GET /api/v1/search?q=: a seen contact's name, an e-mail's start, a company word",
    "create contact": "POST /api/v1/contacts with Idempotency-Key, linked to a seen account",
    "create contact (retry)": "the same POST again (1 in 10 creates): must replay, Idempotent-Replayed",
    "create activity": "POST /api/v1/activities (call, note, e-mail, meeting) with Idempotency-Key",
    "update contact": "GET the contact, then PATCH title and phone with If-Match: its ETag",
    "update deal": "GET the deal, then PATCH it to another open stage with If-Match: its ETag",
    "refresh token": "POST /oauth/token refresh_token grant (rotation: the new token is kept); also due "
    "when the access token has under 60 s left",
    "export contacts": "GET /api/v1/contacts/export?tag=vip (CSV, streamed; audited, limited per org)",
}
SIGN_IN_KINDS = ("sign in: login page", "sign in: password", "sign in: authorize", "sign in: token (code)")
CONTACT_TAGS = ("churn-risk", "decision-maker", "event-2026", "newsletter", "partner", "vip")
ACCOUNT_TAGS = ("enterprise", "smb", "partner", "key-account", "renewal-2027", "emea", "americas")
COMPANY_WORDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Adatum", "Lucerne")
LAST_NAMES = ("Garcia", "Muller", "Rossi", "Martin", "Smith", "Nowak", "Jansen", "Tanaka", "Silva", "Patel")


def log(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    pass


def md5_uuid(label: str) -> str:
    return str(uuid.UUID(hashlib.md5(label.encode(), usedforsecurity=False).hexdigest()))


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, by the nearest rank."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def latency_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 0.50), 1),
        "p95": round(percentile(ordered, 0.95), 1),
        "p99": round(percentile(ordered, 0.99), 1),
        "max": round(ordered[-1], 1) if ordered else 0.0,
        "mean": round(sum(ordered) / len(ordered), 1) if ordered else 0.0,
    }


# ==================================================================================================
# The people who sign in: person i is a member of organisation 1 + i % orgs


@dataclass(frozen=True)
class Person:
    n: int  # the organisation's number (crm_seed.sql)
    k: int  # the member's number: 2 the manager, 3..10 the sales reps
    email: str
    user_id: str
    role: str


def people(count: int, orgs: int) -> list[Person]:
    """One member per organisation first (every fifth organisation's manager, else one of its reps),
    then further members of the same organisations."""
    out = []
    for i in range(count):
        n, slot = 1 + i % orgs, i // orgs
        first = 2 if n % 5 == 0 else 3 + n % 8
        k = first if slot == 0 else [m for m in range(2, 11) if m != first][(slot - 1) % 8]
        out.append(
            Person(
                n,
                k,
                f"member{k}.org{n}@bench.example",
                md5_uuid(f"keel-bench-user-{n}-{k}"),
                "manager" if k == 2 else "sales_rep",
            )
        )
    return out


# ==================================================================================================
# The orchestrator: database, API, Locust, CPU, report


def configure_environment(port: int, encryption_key: str) -> None:
    """Keel reads its settings from the environment on first use: the seed (in this process) and
    `keel serve` use the bench database, Redis db 12 and limits that never refuse."""
    os.environ.update(
        BENCH_CRM_DATABASE_URL=DATABASE_URL,  # bench/crm.py's seed, imported below, reads these
        BENCH_CRM_REDIS_URL=REDIS_URL,
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        KEEL_ENV="prod",
        KEEL_LOG_LEVEL="WARNING",
        KEEL_ENCRYPTION_KEYS=encryption_key,
        KEEL_PUBLIC_URL=f"http://127.0.0.1:{port}",
        KEEL_API_PORT=str(port),
        KEEL_RATE_LIMIT=UNLIMITED,
        KEEL_PLAN_RATE_LIMITS=json.dumps({"standard": UNLIMITED, "enterprise": UNLIMITED}),
        KEEL_RATE_LIMIT_USER=UNLIMITED,
        KEEL_RATE_LIMIT_TOKEN=UNLIMITED,
        KEEL_RATE_LIMIT_SIGN_IN=UNLIMITED,
        KEEL_RATE_LIMIT_EXPORT=UNLIMITED,
    )
    for var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "KEEL_REDIS_URL"):
        os.environ.pop(var, None)


def database_name() -> str:
    return DATABASE_URL.rsplit("/", 1)[1]


def create_past_audit_months() -> None:
    """The seeded trail covers the last 150 days: its months need their partitions (a real trail gets
    them month by month from `keel audit maintain`)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from keel.audit.retention import maintain, month_start
    from keel.core.config import get_settings
    from keel.core.db import admin_url

    engine = create_engine(admin_url(get_settings()), poolclass=NullPool)
    keep_all = dict.fromkeys(("money", "security", "access", "general"), 120)
    with engine.begin() as conn:
        for months_ago in (6, 0):
            maintain(conn, keep_all, today=month_start(datetime.now(UTC).date(), -months_ago))
    engine.dispose()


async def register_web_client() -> None:
    """The authorization server's signing key and the web app's first-party client, as `keel seed`."""
    from keel.core.db import platform_database, runtime_database
    from keel.core.keyring import get_key_ring
    from keel.core.platform import platform_unit_of_work
    from keel.identity.clients import WEB_APP_CLIENT_ID, register_client
    from keel.identity.signing_keys import rotate_signing_key

    assert WEB_APP_CLIENT_ID == CLIENT_ID
    async with platform_unit_of_work("bench") as uow:
        await rotate_signing_key(uow, get_key_ring())
    async with platform_unit_of_work("bench") as uow:
        await register_client(uow, CLIENT_ID, "Keel web app", [REDIRECT_URI], first_party=True)
    await runtime_database().dispose()
    await platform_database().dispose()


def seed(orgs: int) -> dict[str, Any]:
    """A fresh database: crm_seed.sql (through crm.py), then load_seed.sql, the client and a key."""
    import asyncio

    import crm  # bench/crm.py: its seed drops and re-creates DATABASE_URL's database (name has "bench")
    import psycopg

    from keel.identity.passwords import HASHER, normalise

    if crm.DATABASE_URL != DATABASE_URL:
        raise BenchError(f"bench/crm.py would seed {crm.DATABASE_URL}, not {DATABASE_URL}")
    timings: dict[str, Any] = {"crm_seed": crm.seed(orgs, "keel_sk_" + secrets.token_urlsafe(30))}
    started = time.monotonic()
    create_past_audit_months()
    password_hash = HASHER.hash(normalise(PASSWORD))  # once: every member shares the password
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT set_config('bench.orgs', %s, false), set_config('bench.password_hash', %s, false)",
            (str(orgs), password_hash),
        )
        with conn.transaction():
            conn.execute((BENCH_DIR / "load_seed.sql").read_text().encode())
        conn.execute("VACUUM (ANALYZE) keel.users, keel.leads, keel.audit_events, keel.audit_chains")
        conn.execute("CHECKPOINT")
    asyncio.run(register_web_client())
    timings["load_seed_s"] = round(time.monotonic() - started, 1)
    return timings


def data_profile() -> dict[str, Any]:
    import psycopg

    out: dict[str, Any] = {}
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for table in (
            "organizations",
            "users",
            "accounts",
            "contacts",
            "deals",
            "leads",
            "tickets",
            "activities",
        ):
            row = conn.execute(f"SELECT count(*) FROM keel.{table}".encode()).fetchone()
            out[table] = row[0] if row else None
        row = conn.execute("SELECT count(*) FROM keel.audit_events").fetchone()
        out["audit_events"] = row[0] if row else None
        row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        out["database_size"] = row[0] if row else None
    return out


# ---- the machine: CPU by process group, from /proc (as bench/crm.py's CpuWindow) -----------------


GROUPS = ("api", "postgres", "redis", "locust", "bench", "other")


class CpuSampler:
    """Every `interval` seconds, the cores each group used since the last sample: the API (`keel
    serve`'s process group), PostgreSQL (this database's backends and the server's own processes),
    Redis, Locust (its process group), this script, and other work on the machine."""

    def __init__(self, interval: float = 3.0) -> None:
        self.interval = interval
        self.api_pgid: int | None = None
        self.locust_pgid: int | None = None
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def group(self, name: str, pgrp: int, cmdline: str) -> str:
        if self.api_pgid is not None and pgrp == self.api_pgid:
            return "api"
        if self.locust_pgid is not None and pgrp == self.locust_pgid:
            return "locust"
        if name == "postgres":
            parts = (
                cmdline.split()
            )  # a backend: "postgres: 15/main: keel_app keel_bench_load 127.0.0.1(…) idle"
            if len(parts) >= 5 and "(" in parts[4]:
                return "postgres" if parts[3] == database_name() else "other"
            return "postgres"
        if name.startswith("redis-server"):
            return "redis"
        return "bench" if pgrp == os.getpgrp() else "other"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        cores = os.cpu_count() or 1
        before, machine_before, t_before = process_ticks(), machine_ticks(), time.time()
        boot_before = ticks_since_boot()
        while not self._stop.wait(self.interval):
            now, machine_now, t_now = process_ticks(), machine_ticks(), time.time()
            used = dict.fromkeys(GROUPS, 0.0)
            for pid, (name, pgrp, ticks, started, cmdline) in now.items():
                old = before.get(pid)
                if old is not None and old[3] == started:
                    delta = ticks - old[2]
                else:  # begun since the last sample
                    delta = ticks if started >= boot_before else 0
                if delta > 0:
                    used[self.group(name, pgrp, cmdline)] += delta / hz
            elapsed = t_now - t_before
            total, idle = (e - s for e, s in zip(machine_now, machine_before, strict=True))
            sample = {"from": t_before, "to": t_now, **{g: used[g] / elapsed for g in GROUPS}}
            sample["machine"] = cores * (total - idle) / total if total else 0.0
            sample["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
            self.samples.append(sample)
            before, machine_before, t_before, boot_before = now, machine_now, t_now, ticks_since_boot()

    def window(self, start: float, end: float) -> dict[str, float]:
        """Cores used per group between two wall-clock times (samples weighted by their overlap)."""
        sums = dict.fromkeys([*GROUPS, "machine"], 0.0)
        covered = 0.0
        for s in self.samples:
            overlap = min(end, s["to"]) - max(start, s["from"])
            if overlap <= 0:
                continue
            covered += overlap
            for g in sums:
                sums[g] += s[g] * overlap
        out = {f"{g}_cores": round(v / covered, 2) if covered else 0.0 for g, v in sums.items()}
        loads = [s["loadavg_1m"] for s in self.samples if start <= s["to"] <= end]
        out["loadavg_1m_max"] = max(loads) if loads else 0.0
        return out


# ---- processes -----------------------------------------------------------------------------------


def http_status(url: str, timeout: float = 2.0) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback, our own URL
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class ApiProcess:
    """`keel serve` in its own session: stopping it ends uv, uvicorn and its workers together."""

    def __init__(self, workers: int, pool_size: int, port: int) -> None:
        self.port = port
        self.workers = workers
        self.log_path = RESULTS / "load-api.log"
        self.env = {
            **os.environ,
            "KEEL_API_WORKERS": str(workers),
            "KEEL_DB_POOL_SIZE": str(pool_size),
            "KEEL_DB_MAX_OVERFLOW": "4",
        }
        uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
        self.cmd = [uv, "run", "--project", "backend", "--locked", "keel", "serve", "--port", str(port)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise BenchError(f"port {self.port} is already in use")
        log(f"starting the API (keel serve) on port {self.port}, {self.workers} workers")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own fixed command
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
            with suppress(OSError):
                if http_status(f"http://127.0.0.1:{self.port}/readyz") == 200:
                    return
            time.sleep(0.3)
        raise BenchError(f"the API is not ready after 300 s; see {self.log_path}")

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        stop_group(self.proc)
        if self.proc is not None:
            self._log.close()
        self.proc = None


def stop_group(proc: subprocess.Popen[Any] | None) -> None:
    """SIGTERM the process group `proc` leads, then SIGKILL what is left of it."""
    if proc is None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # a child that outlived its parent


@contextmanager
def running(proc_factory: Callable[[], ApiProcess]) -> Iterator[ApiProcess]:
    api = proc_factory()
    try:
        api.start()
        yield api
    finally:
        log("stopping the API")
        api.stop()


def run_driver(
    config: dict[str, Any], sampler: CpuSampler, timeout_s: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Locust in a process of its own; relays its progress and collects its phase events."""
    config_path = RESULTS / "load-driver.json"
    config_path.write_text(json.dumps(config))
    cmd = [sys.executable, str(BENCH_DIR / "load_users.py"), str(config_path)]
    events: list[dict[str, Any]] = []
    proc = subprocess.Popen(  # noqa: S603 - bench/load_users.py, the Locust side
        cmd,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    sampler.locust_pgid = proc.pid
    timer = threading.Timer(timeout_s, lambda: stop_group(proc))
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("EVENT "):
                events.append(json.loads(line.removeprefix("EVENT ")))
            elif line.strip():
                print(line, flush=True)
        proc.wait()
    finally:
        timer.cancel()
        stop_group(proc)
    out = Path(config["out"])
    if proc.returncode != 0 or not out.exists():
        raise BenchError(f"the Locust side exited with {proc.returncode} (timeout {timeout_s:.0f} s)")
    result: dict[str, Any] = json.loads(out.read_text())
    if "fatal" in result:
        raise BenchError(f"the Locust side stopped: {result['fatal']}: {result.get('errors')}")
    return result, events


# ---- the report ----------------------------------------------------------------------------------


def history(driver: dict[str, Any], bucket: int = 10) -> list[dict[str, Any]]:
    """Per `bucket` seconds from the ramp's start: users, req/s, p50/p95, failures."""
    seconds = driver["seconds"]
    ramp_start = next((s["t"] for s in seconds if s["users"] > 0), 0)
    out = []
    for start in range(ramp_start, len(seconds), bucket):
        chunk = seconds[start : start + bucket]
        times = sorted(v for s in chunk for v in s["times"])
        out.append(
            {
                "t": start - ramp_start,
                "abs_t": start,
                "users": max((s["users"] for s in chunk), default=0),
                "rps": round(len(times) / max(1, len(chunk)), 1),
                "p50": round(percentile(times, 0.5), 1),
                "p95": round(percentile(times, 0.95), 1),
                "failures": sum(s["failures"] for s in chunk),
            }
        )
    return out


def find_knee(steps: list[dict[str, Any]], main_users: int, main_p95: float) -> dict[str, Any]:
    """The users at which p95 crosses 200 ms: between the most users still under it and the fewest over
    it, and by linear interpolation between the two."""
    points = sorted([(s["users"], s["p95"]) for s in steps])
    if main_p95 <= KNEE_P95_MS:  # an over-threshold run may owe it to other work: only steps count then
        points = sorted([*points, (main_users, main_p95)])
    first_over = next(((u, p) for u, p in points if p > KNEE_P95_MS), None)
    if first_over is None:
        return {
            "found": False,
            "under_up_to_users": points[-1][0],
            "note": f"p95 stayed at or under {KNEE_P95_MS:.0f} ms up to {points[-1][0]:,} users",
        }
    below = [(u, p) for u, p in points if u < first_over[0] and p <= KNEE_P95_MS]
    out: dict[str, Any] = {"found": True, "first_over_users": first_over[0], "p95_there": first_over[1]}
    if below:
        u0, p0 = below[-1]
        u1, p1 = first_over
        out |= {"last_under_users": u0, "p95_under": p0}
        out["interpolated_users"] = int(round(u0 + (KNEE_P95_MS - p0) / max(1e-9, p1 - p0) * (u1 - u0), -1))
    else:
        out["last_under_users"] = None
        out["note"] = "p95 was over 200 ms at the fewest users tried"
    return out


def build_report(
    args: argparse.Namespace,
    driver: dict[str, Any],
    events: list[dict[str, Any]],
    sampler: CpuSampler,
) -> dict[str, Any]:
    def span(name: str) -> tuple[float, float] | None:
        start = next((e["t"] for e in events if e.get("name") == name and e["state"] == "start"), None)
        end = next((e["t"] for e in events if e.get("name") == name and e["state"] == "end"), None)
        return (start, end) if start is not None and end is not None else None

    main = driver["phases"].get(
        "main", {"requests": 0, "failures": 0, "latency_ms": latency_summary([]), "kinds": {}}
    )
    main_span = span("main")
    seconds = (main_span[1] - main_span[0]) if main_span else driver.get("main_s", 1.0)
    kinds = {}
    for kind, entry in main["kinds"].items():
        kinds[kind] = {
            **entry,
            "rps": round(entry["requests"] / seconds, 2),
            "share_pct": round(100 * entry["requests"] / max(1, main["requests"]), 2),
            "target_p95_ms": TARGET_KIND_P95_MS,
            "met": entry["latency_ms"]["p95"] < TARGET_KIND_P95_MS and entry["failures"] == 0,
        }
    all_failures = sum(p["failures"] for p in driver["phases"].values())
    cpu: dict[str, Any] = {}
    for name in ("signin", "ramp", "main", "knee"):
        if (s := span(name)) is not None:
            cpu[name] = sampler.window(*s)
    if main_span:
        rps = main["requests"] / seconds
        cpu["main_ms_per_request"] = {
            g: round(1000 * cpu["main"][f"{g}_cores"] / max(rps, 1e-9), 2)
            for g in ("api", "postgres", "redis", "locust")
        }
    steps = driver.get("knee_steps", [])
    for step in steps:
        start = next(
            (
                e["t"]
                for e in events
                if e["event"] == "knee_step" and e["users"] == step["users"] and e["state"] == "start"
            ),
            None,
        )
        end = next(
            (
                e["t"]
                for e in events
                if e["event"] == "knee_step" and e["users"] == step["users"] and e["state"] == "end"
            ),
            None,
        )
        if start is not None and end is not None:
            step["cpu"] = sampler.window(start, end)
    signin = driver["signin"]
    signin_kinds = driver["phases"].get("signin", {}).get("kinds", {})
    report: dict[str, Any] = {
        "command": COMMAND + " " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": vars(args),
        "database": DATABASE_URL.rsplit("@", 1)[-1],
        "redis": REDIS_URL,
        "mix": {
            kind: {"weight": MIX.get(kind), "describe": DESCRIBE.get(kind, "")}
            for kind in [*MIX, "create contact (retry)"]
        },
        "signin": {**signin, "kinds": signin_kinds},
        "main": {
            "users": driver.get("main_users"),
            "ramp_s": driver.get("ramp_s"),
            "seconds": round(seconds, 1),
            "requests": main["requests"],
            "rps": round(main["requests"] / seconds, 1),
            "latency_ms": main["latency_ms"],
            "failures": main["failures"],
            "kinds": kinds,
        },
        "failures_all_phases": {phase: p["failures"] for phase, p in driver["phases"].items()},
        "failure_samples": driver.get("failure_samples", []),
        "knee_steps": steps,
        "knee": find_knee(steps, driver["main_users"], driver["main_p95_ms"]) if args.knee else None,
        "cpu_cores": cpu,
        "cpu_samples": sampler.samples,
        "history_10s": history(driver),
        "locust_cpu_warning": driver.get("locust_cpu_warning"),
    }
    lat = main["latency_ms"]
    report["targets"] = {
        "p95_overall": {
            "target_ms": TARGET_P95_MS,
            "measured_ms": lat["p95"],
            "met": lat["p95"] < TARGET_P95_MS,
        },
        "p95_each_kind": {
            "target_ms": TARGET_KIND_P95_MS,
            "missed": sorted(k for k, v in kinds.items() if v["latency_ms"]["p95"] >= TARGET_KIND_P95_MS),
            "met": all(v["latency_ms"]["p95"] < TARGET_KIND_P95_MS for v in kinds.values()),
        },
        "zero_errors": {"measured": all_failures, "met": all_failures == 0},
    }
    return report


def machine_info() -> dict[str, Any]:
    import psycopg

    git = shutil.which("git") or "git"
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    with psycopg.connect(DATABASE_URL) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings "
                "WHERE name IN ('shared_buffers', 'work_mem', "
                "'max_connections', 'synchronous_commit', 'jit')"
            ).fetchall()
        )
    commit = subprocess.run(  # noqa: S603 - git, fixed arguments
        [git, "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    changed = subprocess.run(  # noqa: S603 - git, fixed arguments
        [git, "status", "--short", "backend/keel"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    from importlib.metadata import version

    return {
        "nproc": os.cpu_count(),
        "cpu_model": next(
            (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?"
        ),
        "mem_gib": round(int(next(ln for ln in meminfo if ln.startswith("MemTotal")).split()[1]) / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": row[0] if row else "?",
        "postgres_settings": settings,
        "locust": version("locust"),
        "commit": commit.stdout.strip(),
        "api_files_changed_since_commit": changed.stdout.splitlines(),
    }


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_report(report: dict[str, Any]) -> None:
    width = 112
    main, targets = report["main"], report["targets"]
    lat = main["latency_ms"]
    print("\n" + "=" * width)
    print(
        f"Keel load test: {main['users']:,} users of {report['params']['orgs']:,} organisations, "
        f"{main['seconds']:.0f} s measured after a {main['ramp_s']:.0f} s ramp, think time 1-3 s"
    )
    print("=" * width)
    print(
        f"overall: {main['requests']:,} requests, {main['rps']:.1f} req/s, p50 {lat['p50']:.1f} ms, "
        f"p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.0f} ms, "
        f"failed {main['failures']}"
    )
    header = ("kind", "share", "req/s", "p50 ms", "p95 ms", "p99 ms", "failed")
    print(f"{header[0]:<26}" + "".join(f"{h:>9}" for h in header[1:]) + "  p95 < 100 ms")
    for kind, k in sorted(main["kinds"].items(), key=lambda kv: -kv[1]["requests"]):
        kl = k["latency_ms"]
        cells = (
            f"{k['share_pct']:.1f}%",
            f"{k['rps']:.1f}",
            *(f"{kl[q]:.1f}" for q in ("p50", "p95", "p99")),
        )
        print(
            f"{kind:<26}"
            + "".join(f"{c:>9}" for c in cells)
            + f"{k['failures']:>9}  {verdict(kl['p95'] < TARGET_KIND_P95_MS)}"
        )
    print("-" * width)
    overall, each, errors = targets["p95_overall"], targets["p95_each_kind"], targets["zero_errors"]
    print(f"p95 < {TARGET_P95_MS:.0f} ms overall: {overall['measured_ms']:.1f} ms, {verdict(overall['met'])}")
    missed = f" (missed: {', '.join(each['missed'])})" if each["missed"] else ""
    print(f"p95 < {TARGET_KIND_P95_MS:.0f} ms for each kind: {verdict(each['met'])}{missed}")
    print(f"zero failed requests, every phase: {errors['measured']} failed, {verdict(errors['met'])}")
    signin = report["signin"]
    print(f"sign-ins: {signin['signed_in']:,} of {signin['members']:,} in {signin['seconds']:.0f} s")
    if report.get("knee") is not None:
        print("-" * width)
        print(f"knee (p95 > {KNEE_P95_MS:.0f} ms), {report['params']['knee_step_duration']} s per step:")
        for step in report["knee_steps"]:
            c = step.get("cpu", {})
            print(
                f"  {step['users']:>6,} users: {step['rps']:7.1f} req/s, p50 {step['p50']:7.1f}, "
                f"p95 {step['p95']:8.1f}, p99 {step['p99']:8.1f} ms; cores: API {c.get('api_cores', 0):.2f}, "
                f"PG {c.get('postgres_cores', 0):.2f}, Locust {c.get('locust_cores', 0):.2f}, "
                f"other {c.get('other_cores', 0):.2f}"
            )
        knee = report["knee"]
        if knee["found"]:
            under = knee.get("last_under_users") or 0
            about = (
                f", about {knee['interpolated_users']:,} interpolated" if "interpolated_users" in knee else ""
            )
            print(f"  the knee: between {under:,} and {knee['first_over_users']:,} users{about}")
        else:
            print(f"  no knee within the budget: {knee['note']}")
    print("-" * width)
    cpu = report["cpu_cores"].get("main", {})
    per = report["cpu_cores"].get("main_ms_per_request", {})
    groups = (("api", "API"), ("postgres", "PostgreSQL"), ("redis", "Redis"), ("locust", "Locust"))
    print(
        "cores in the measured run: "
        + ", ".join(f"{label} {cpu.get(g + '_cores', 0):.2f}" for g, label in groups)
        + f", this script {cpu.get('bench_cores', 0):.2f}, other work {cpu.get('other_cores', 0):.2f}; "
        f"machine {cpu.get('machine_cores', 0):.2f} of {os.cpu_count()} busy, "
        f"load average up to {cpu.get('loadavg_1m_max', 0):.1f}"
    )
    if per:
        print("CPU per request: " + ", ".join(f"{label} {per[g]:.2f} ms" for g, label in groups))
    if report["failure_samples"]:
        print("-" * width)
        print("first failed requests:")
        for f in report["failure_samples"][:10]:
            print(f"  {f['at']} {f['kind']}: {f['method']} {f['url']} -> {f['status']} {f['error'][:120]}")
            print(f"      {f['body'][:200]!r}")
    print("=" * width)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = report["history_10s"]
    samples = report["cpu_samples"]
    if not hist:
        return
    t = [h["t"] / 60 for h in hist]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 9), sharex=True, constrained_layout=True)
    # A bucket without requests (users stopped between the knee's steps) is a gap, not a latency.
    ax1.plot(t, [h["p50"] if h["rps"] else math.nan for h in hist], label="p50", color="tab:blue")
    ax1.plot(t, [h["p95"] if h["rps"] else math.nan for h in hist], label="p95", color="tab:red")
    ax1.axhline(TARGET_P95_MS, color="tab:green", linestyle="--", linewidth=1, label="p95 target (50 ms)")
    ax1.axhline(KNEE_P95_MS, color="tab:orange", linestyle=":", linewidth=1, label="knee threshold (200 ms)")
    ax1.set_yscale("log")
    ax1.set_ylabel("latency per 10 s (ms)")
    ax1.legend(loc="upper right", fontsize=8)
    ax1.grid(True, which="both", alpha=0.3)
    ax2.plot(t, [h["rps"] for h in hist], color="tab:purple", label="throughput")
    ax2.set_ylabel("requests / s")
    ax2.grid(True, alpha=0.3)
    users_ax = ax2.twinx()
    users_ax.plot(t, [h["users"] for h in hist], color="gray", linestyle="--", label="users")
    users_ax.set_ylabel("simulated users")
    lines = ax2.get_lines() + users_ax.get_lines()
    ax2.legend(lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8)
    if hist and samples:
        origin = report["_origin_wall"]
        st = [((s["from"] + s["to"]) / 2 - origin) / 60 for s in samples]
        keep = [i for i, x in enumerate(st) if t[0] <= x <= t[-1] + 10 / 60]
        stacks = [[samples[i][g] for i in keep] for g in ("api", "postgres", "redis", "locust", "other")]
        ax3.stackplot(
            [st[i] for i in keep],
            *stacks,
            labels=["API (2 workers)", "PostgreSQL", "Redis", "Locust", "other work"],
            alpha=0.8,
        )
        ax3.axhline(os.cpu_count() or 2, color="black", linewidth=0.8)
        ax3.legend(loc="lower right", fontsize=8, ncol=5)
    ax3.set_ylabel("cores")
    ax3.set_xlabel("minutes since the ramp began")
    ax3.grid(True, alpha=0.3)
    for span in report.get("_spans", []):
        for ax in (ax1, ax2, ax3):
            ax.axvspan(span["from"] / 60, span["to"] / 60, color=span["color"], alpha=0.08)
        ax1.text(span["from"] / 60, ax1.get_ylim()[0], " " + span["label"], va="bottom", fontsize=8)
    knee = report.get("knee") or {}
    step = next((s for s in report["knee_steps"] if s["users"] == knee.get("first_over_users")), None)
    if step is not None:
        x = (step["from_t"] + step["to_t"]) / 2 - report["_origin_driver"]
        ax1.annotate(
            f"knee: p95 {step['p95']:.0f} ms at {step['users']:,} users",
            xy=(x / 60, step["p95"]),
            xytext=(x / 60 - 4, KNEE_P95_MS / 6),
            arrowprops={"arrowstyle": "->"},
            fontsize=8,
        )
    main = report["main"]
    fig.suptitle(
        f"Keel load test: {main['users']:,} users, think time 1-3 s, 2 API workers, 2 cores "
        f"(API, PostgreSQL and Locust on one machine); measured p95 {main['latency_ms']['p95']:.0f} ms",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=1000, help="simulated users in the measured run")
    p.add_argument("--duration", type=int, default=600, help="seconds measured at --users, after the ramp")
    p.add_argument("--spawn-rate", type=float, default=50, help="users started per second")
    p.add_argument("--orgs", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2, help="KEEL_API_WORKERS")
    p.add_argument("--pool-size", type=int, default=16, help="KEEL_DB_POOL_SIZE per worker (+4 overflow)")
    p.add_argument("--port", type=int, default=8095)
    p.add_argument("--signin-concurrency", type=int, default=16)
    p.add_argument("--knee", action=argparse.BooleanOptionalAction, default=True, help="the stepped phase")
    p.add_argument("--knee-step", type=int, default=250, help="users added per step")
    p.add_argument("--knee-step-duration", type=int, default=60, help="seconds per step")
    p.add_argument("--knee-settle", type=int, default=15, help="seconds of each step not measured")
    p.add_argument("--knee-max-users", type=int, default=4000)
    p.add_argument(
        "--knee-budget", type=int, default=420, help="seconds for the whole stepped phase, at most"
    )
    p.add_argument("--quiet-wait", type=float, default=30, help="wait this long at most for a quiet machine")
    p.add_argument("--reuse", action="store_true", help="keep the database seeded by the previous run")
    p.add_argument("--no-plot", action="store_true", help="do not write docs/load-test.png")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    state_file = RESULTS / "load-state.json"
    if args.reuse and state_file.exists():
        state = json.loads(state_file.read_text())
        if state["orgs"] != args.orgs:
            raise BenchError(f"the database was seeded with {state['orgs']} organisations")
    else:
        from cryptography.fernet import Fernet

        state = {"orgs": args.orgs, "encryption_key": Fernet.generate_key().decode()}
    configure_environment(args.port, state["encryption_key"])
    seed_info: dict[str, Any]
    if args.reuse and "seeded_at" in state:
        log(f"reusing the database seeded at {state['seeded_at']}")
        seed_info = {"reused": state["seeded_at"]}
    else:
        log(f"seeding {args.orgs:,} organisations into {database_name()} (a few minutes)")
        seed_info = seed(args.orgs)
        configure_environment(args.port, state["encryption_key"])  # bench/crm.py set its own on import
        state["seeded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        state_file.write_text(json.dumps(state))
        state_file.chmod(0o600)  # the encryption key of the signing key
        log(f"seeded: {seed_info}")
    crowd = people(args.users, args.orgs)
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()  # this test's own Redis database: nothing from an earlier run
    sampler = CpuSampler()
    driver_out = RESULTS / "load-driver-result.json"
    driver_out.unlink(missing_ok=True)
    config = {
        "host": f"http://127.0.0.1:{args.port}",
        "people": [vars(p) for p in crowd],
        "users": args.users,
        "duration": args.duration,
        "spawn_rate": args.spawn_rate,
        "signin_concurrency": args.signin_concurrency,
        "knee": args.knee,
        "knee_step": args.knee_step,
        "knee_step_duration": args.knee_step_duration,
        "knee_settle": args.knee_settle,
        "knee_max_users": args.knee_max_users,
        "knee_budget": args.knee_budget,
        "out": str(driver_out),
    }
    # Bounded: sign-ins, the ramp, the run, the knee's budget, and time to stop.
    timeout = (
        600 + args.users / args.spawn_rate + args.duration + (args.knee_budget + 120 if args.knee else 0)
    )
    with running(lambda: ApiProcess(args.workers, args.pool_size, args.port)) as api:
        sampler.api_pgid = api.pgid
        quiet = wait_for_quiet(args.quiet_wait, log)
        log(f"machine before the run: {quiet}")
        sampler.start()
        try:
            driver, events = run_driver(config, sampler, timeout)
        finally:
            sampler.stop()
    report = build_report(args, driver, events, sampler)
    report["seed"] = seed_info
    report["quiet_before"] = quiet
    report["machine"] = machine_info()
    report["data"] = data_profile()
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    ramp = next(
        (e["t"] for e in events if e.get("name") == "ramp" and e["state"] == "start"), driver["started"]
    )
    ramp_offset = ramp - driver["started"]
    spans = []
    for name, label, color in (("main", "measured run", "tab:green"), ("knee", "knee steps", "tab:orange")):
        s = [e["t"] for e in events if e.get("name") == name]
        if len(s) == 2:
            spans.append({"from": s[0] - ramp, "to": s[1] - ramp, "label": label, "color": color})
    report["_origin_wall"] = ramp
    report["_origin_driver"] = ramp_offset
    report["_spans"] = spans
    if not args.no_plot:
        plot(report, PLOT)
        log(f"plot: {PLOT}")
    for key in ("_origin_wall", "_origin_driver", "_spans"):
        report.pop(key)
    (RESULTS / "load.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print_report(report)
    log(f"results: {RESULTS / 'load.json'}; API log: {RESULTS / 'load-api.log'}")
    log(f"elapsed {report['elapsed_s']:.0f} s")
    return 0 if report["targets"]["zero_errors"]["met"] else 1


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:
        print(
            f"load test interrupted ({str(exc) or 'Ctrl-C'}); the processes it started are stopped",
            file=sys.stderr,
        )
        sys.exit(130)
