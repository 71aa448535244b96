"""End-to-end benchmark of the tenant-scoped audit list: API (wrk) vs the same SQL (pgbench), and RLS cost.

    make bench                      # = uv run --project backend --locked python bench/run.py
    uv run --project backend --locked python bench/run.py --help

Steps, unattended (about 4 minutes on the 2-core reference machine; at most ~7 if it must wait for
other work on the machine to stop, see --quiet-wait):
 1. drop + create the database `keel_bench` (or the one named by BENCH_DATABASE_URL), run
    `keel.core.migrate.migrate`, seed 1,000 organisations with one API key each and 1,000,000 audit
    events (superuser SQL, bench/seed.sql), VACUUM ANALYZE;
 2. capture the SQL the real endpoint emits (the app in-process, one request, SQLAlchemy cursor events);
 3. start `keel serve` (KEEL_API_WORKERS=1, then 2) and drive GET /api/v1/audit-events?limit=50 with wrk,
    64 connections, rotating the API key over the 1,000 organisations;
 4. pgbench the same per-request SQL as keel_app (-M prepared -c 64 -j 2);
 5. RLS overhead: the list query under the policy (keel_app) vs an explicit WHERE org_id = $1 as a
    BYPASSRLS role (-c 8), and EXPLAIN (ANALYZE, BUFFERS) of the policy query with plan assertions;
 6. print a summary and write bench/results/latest.json. The API is always stopped at the end.

Secrets and raw outputs go to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
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
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
BACKEND_DIR = REPO_ROOT / "backend"
RESULTS = BENCH_DIR / "results"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/keel_bench"
ENDPOINT = "/api/v1/audit-events?limit=50"
LIST_ROUTE = "/api/v1/audit-events"
TARGET_API_VS_PGBENCH = 0.6  # issue 13
TARGET_RLS_RATIO = 1.10

# Settings are read from the environment once, on first use: point them at the bench database before
# anything from keel is imported.
ADMIN_URL_RAW = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
os.environ["DATABASE_URL"] = ADMIN_URL_RAW
os.environ["KEEL_ENV"] = "prod"
os.environ["KEEL_LOG_LEVEL"] = "WARNING"
for _var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "REDIS_URL", "KEEL_REDIS_URL"):
    os.environ.pop(_var, None)

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from keel.core.config import get_settings  # noqa: E402
from keel.core.db import APP_ROLE, admin_url, role_url  # noqa: E402


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------------
# Connections


@dataclass(frozen=True)
class Conn:
    """libpq parameters for one role."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = None

    def conninfo(self, **overrides: Any) -> str:
        params = {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user}
        if self.password:
            params["password"] = self.password
        params.update(overrides)
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGDATABASE": self.dbname,
            "PGUSER": self.user,
        }
        env.pop("PGPASSWORD", None)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def libpq_url(self) -> str:
        return (
            make_url(f"postgresql://{self.host}:{self.port}/{self.dbname}")
            .set(username=self.user, password=self.password)
            .render_as_string(hide_password=False)
        )


def conn_from_url(url: Any) -> Conn:
    return Conn(
        host=url.host or "127.0.0.1",
        port=int(url.port or 5432),
        dbname=url.database,
        user=url.username or "postgres",
        password=url.password,
    )


# --------------------------------------------------------------------------------------------------
# CPU accounting: who used the two cores during a measurement window


def _read_proc_stat(pid: str) -> tuple[str, int, int] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); pgrp is field 5, utime 14, stime 15
    return comm, int(fields[2]), int(fields[11]) + int(fields[12])


def _machine_ticks() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts[:8]), idle


class CpuSampler:
    """Samples /proc every 0.5 s; attributes CPU time to postgres, the API, wrk, pgbench and the rest."""

    def __init__(self, api_pgid: int | None = None, dbname: str | None = None) -> None:
        self.api_pgid = api_pgid
        self.dbname = dbname or make_url(ADMIN_URL_RAW).database or "keel_bench"
        self.pg_titles: dict[str, str] = {}
        self.first: dict[str, tuple[str, int, int]] = {}
        self.last: dict[str, tuple[str, int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = 0.0
        self.elapsed = 0.0
        self.machine_start = (0, 0)
        self.machine_end = (0, 0)

    def _snapshot(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            stat = _read_proc_stat(entry.name)
            if stat is None:
                continue
            if entry.name not in self.first and stat[0] == "postgres":
                try:  # "postgres: 15/main: keel_app keel_bench 127.0.0.1(…) idle"
                    raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                    title = raw.replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    title = ""
                self.pg_titles[entry.name] = title
            self.first.setdefault(entry.name, stat if self.first_pass else (stat[0], stat[1], 0))
            self.last[entry.name] = stat

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._snapshot()

    def __enter__(self) -> CpuSampler:
        self.first_pass = True
        self._snapshot()
        self.first_pass = False
        self.machine_start = _machine_ticks()
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._snapshot()
        self.machine_end = _machine_ticks()
        self.elapsed = time.monotonic() - self.started

    def _serves_bench(self, pid: str) -> bool:
        """A backend of the bench database, or a server process shared by all (writer, WAL, …)."""
        title = self.pg_titles.get(pid, "")
        parts = title.split()
        if len(parts) >= 5 and parts[0] == "postgres:" and "(" in parts[4]:
            return parts[3] == self.dbname  # a client backend: user database host(port) state
        return True

    def report(self) -> dict[str, float]:
        hz = os.sysconf("SC_CLK_TCK")
        groups: dict[str, float] = {"postgres": 0.0, "api": 0.0, "wrk": 0.0, "pgbench": 0.0, "other": 0.0}
        others: dict[str, float] = {}
        own = str(os.getpid())
        for pid, (comm, pgrp, ticks) in self.last.items():
            used = (ticks - self.first.get(pid, (comm, pgrp, 0))[2]) / hz
            if used <= 0:
                continue
            if comm == "postgres" and self._serves_bench(pid):
                key = "postgres"
            elif self.api_pgid is not None and pgrp == self.api_pgid:
                key = "api"
            elif comm in ("wrk", "pgbench"):
                key = comm
            elif pid == own:
                key = "bench"  # this script (sampling, pg_stat_activity polling)
            else:
                key = "other"
                others[comm] = others.get(comm, 0.0) + used
            groups[key] = groups.get(key, 0.0) + used
        total, idle = (e - s for e, s in zip(self.machine_end, self.machine_start, strict=True))
        cores = os.cpu_count() or 1
        out = {f"{k}_cores": round(v / self.elapsed, 2) for k, v in groups.items()}
        out["machine_busy_pct"] = round(100.0 * (total - idle) / total, 1) if total else 0.0
        out["cores"] = cores
        top = sorted(others.items(), key=lambda kv: -kv[1])[:5]
        out["other_top"] = {k: round(v / self.elapsed, 2) for k, v in top}  # type: ignore[assignment]
        return out


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


QUIET_LOG: list[dict[str, Any]] = []


def wait_for_quiet(phase: str, max_wait: float, threshold_cores: float = 0.3) -> dict[str, Any]:
    """Other work on this machine skews every figure: wait (bounded) until it is idle, and record it.

    Returns the busy cores seen in the last 1-second window before the phase started.
    """
    started = time.monotonic()
    cores = os.cpu_count() or 1
    busy = 0.0
    while True:
        t0, i0 = _machine_ticks()
        time.sleep(1.0)
        t1, i1 = _machine_ticks()
        busy = cores * (1 - (i1 - i0) / max(1, t1 - t0))
        waited = time.monotonic() - started
        if busy <= threshold_cores or waited >= max_wait:
            break
    entry = {
        "phase": phase,
        "busy_cores_before": round(busy, 2),
        "waited_s": round(waited, 1),
        "quiet": busy <= threshold_cores,
    }
    QUIET_LOG.append(entry)
    if not entry["quiet"]:
        log(
            f"machine still busy before {phase} ({busy:.2f} of {cores} cores used by others after "
            f"{waited:.0f} s): figures will be low"
        )
    return entry


# --------------------------------------------------------------------------------------------------
# 1. Database, migrations, seed


def recreate_database(admin: Conn) -> None:
    if "bench" not in admin.dbname:
        raise BenchError(f"refusing to drop database {admin.dbname!r}: its name must contain 'bench'")
    with psycopg.connect(admin.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{admin.dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{admin.dbname}"')
        # Left over from an earlier run: its grants went with the database dropped above.
        conn.execute("DROP ROLE IF EXISTS keel_bench_bypass")


def create_past_audit_months(settings: Any) -> None:
    """The seed spreads rows over the last year: its months need their partitions (a real trail
    gets them month by month from `keel audit maintain`)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from keel.audit.retention import maintain, month_start

    engine = create_engine(admin_url(settings), poolclass=NullPool)
    keep_all = dict.fromkeys(("money", "security", "access", "general"), 120)
    with engine.begin() as conn:
        for months_ago in (13, 6, 0):  # the past year's months, six ahead of each start
            maintain(conn, keep_all, today=month_start(datetime.now(UTC).date(), -months_ago))
    engine.dispose()


def seed(admin: Conn, orgs: int, events: int, key_base: str) -> dict[str, float]:
    timings: dict[str, float] = {}
    sql = (BENCH_DIR / "seed.sql").read_text()
    sql = sql.replace("{orgs}", str(orgs)).replace("{events}", str(events)).replace("{key_base}", key_base)
    started = time.monotonic()
    with psycopg.connect(admin.conninfo(), autocommit=False) as conn:
        conn.execute(sql)  # type: ignore[arg-type]
        conn.commit()
    timings["insert_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) keel.organizations, keel.api_keys, keel.audit_events")
        conn.execute("CHECKPOINT")
    timings["vacuum_analyze_s"] = round(time.monotonic() - started, 1)
    return timings


def write_keys(key_base: str, orgs: int) -> tuple[Path, list[str]]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    secrets_list = [f"{key_base}{n:06d}" for n in range(1, orgs + 1)]
    keys_txt = RESULTS / "api-keys.txt"
    keys_txt.write_text("\n".join(secrets_list) + "\n")
    keys_txt.chmod(0o600)
    return keys_txt, secrets_list


def create_bypass_role(admin: Conn) -> Conn:
    password = secrets.token_urlsafe(24)
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE ROLE keel_bench_bypass LOGIN BYPASSRLS PASSWORD {}").format(
                psycopg.sql.Literal(password)
            )
        )
        conn.execute(f'GRANT CONNECT ON DATABASE "{admin.dbname}" TO keel_bench_bypass')
        conn.execute("GRANT USAGE ON SCHEMA keel TO keel_bench_bypass")
        conn.execute("GRANT SELECT ON keel.audit_events TO keel_bench_bypass")
    return Conn(admin.host, admin.port, admin.dbname, "keel_bench_bypass", password)


def drop_bypass_role(admin: Conn) -> None:
    try:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'keel_bench_bypass'"
            )
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'keel_bench_bypass'").fetchone()
            if exists:
                conn.execute("DROP OWNED BY keel_bench_bypass")
                conn.execute("DROP ROLE keel_bench_bypass")
    except psycopg.Error as exc:
        log(f"could not drop keel_bench_bypass: {exc}")


# --------------------------------------------------------------------------------------------------
# 2. The SQL the endpoint really emits


@dataclass
class Captured:
    events: list[tuple[str, str]] = field(default_factory=list)  # (kind, sql)
    status: int = 0
    items: int = 0


async def _capture(secret: str) -> Captured:
    import httpx
    from benchdb import statements_sent

    from keel.core.db import runtime_database
    from keel.main import create_app

    app = create_app()
    captured = Captured()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        # The first request reads the organisation's policy into the cache; capture a warm one.
        await client.get(ENDPOINT, headers={"Authorization": f"Bearer {secret}"})
    try:
        # As psycopg sends them: the ORM's statements and those on the transaction's own connection.
        with statements_sent() as sent:
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                response = await client.get(ENDPOINT, headers={"Authorization": f"Bearer {secret}"})
        captured.events = [("execute", sql) for sql, _ in sent]
        captured.status = response.status_code
        if response.status_code == 200:
            captured.items = len(response.json()["items"])
    finally:
        await (getattr(app.state, "db", None) or runtime_database()).dispose()
    return captured


def capture_endpoint_sql(secret: str) -> tuple[Captured, dict[str, str]]:
    captured = asyncio.run(_capture(secret))
    if captured.status != 200 or captured.items != 50:
        raise BenchError(f"in-process request failed: status {captured.status}, {captured.items} items")
    statements = [sql for kind, sql in captured.events if kind == "execute"]
    # The key lookup binds the tenant in the same statement (set_config inside it).
    auth = next((s for s in statements if "authenticate_api_key" in s), None)
    listing = next((s for s in statements if "FROM keel.audit_events" in s), None)
    if not (auth and listing) or len(statements) != 2 or "set_config('app.org_id'" not in auth:
        raise BenchError(f"unexpected statements from the endpoint: {statements}")
    return captured, {"auth": auth, "list": listing}


def one_line(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def _quoted_colons(literal: re.Match[str]) -> str:
    # pgbench reads `:MI` in 'HH24:MI:SS' as a variable; chr(58) is folded back to ':' when planned.
    return re.sub(r":(?=[A-Za-z_])", "' || chr(58) || '", literal.group(0))


def to_pgbench(sql: str) -> str:
    """psycopg's %(name)s parameters -> pgbench :name variables (bound as $n under -M prepared); a
    colon inside a string literal stays a colon."""
    unquoted = re.sub(r"'(?:[^']|'')*'", _quoted_colons, one_line(sql))
    return re.sub(r"%\((\w+)\)s", r":\1", unquoted)


def to_server_text(sql: str) -> str:
    """%(name)s -> $1, $2, ... as the server sees it in pg_stat_activity."""
    counter = iter(range(1, 100))
    seen: dict[str, int] = {}

    def repl(m: re.Match[str]) -> str:
        if m.group(1) not in seen:
            seen[m.group(1)] = next(counter)
        return f"${seen[m.group(1)]}"

    return re.sub(r"%\((\w+)\)s", repl, one_line(sql))


def write_pgbench_scripts(sql: dict[str, str], limit_param: str | None) -> dict[str, Path]:
    listing = to_pgbench(sql["list"])
    if "FROM keel.audit_events ORDER BY" not in listing:
        raise BenchError(f"unexpected list SQL: {listing}")
    explicit = listing.replace(
        "FROM keel.audit_events ORDER BY",
        "FROM keel.audit_events WHERE keel.audit_events.org_id = :org::UUID ORDER BY",
    )
    header = "\\set n random(1, :orgs)\n" + (f"\\set {limit_param} 51\n" if limit_param else "")
    # Per request the API runs (captured above): BEGIN; key lookup that also binds the tenant; list;
    # COMMIT. Same here, with the secret derived from the random n server-side (pgbench has no string
    # arithmetic).
    auth = to_pgbench(sql["auth"]).replace(
        ":hash", "sha256(convert_to(:key_base || lpad(:n::text, 6, '0'), 'UTF8'))"
    )
    api = header + "BEGIN;\n" + auth + ";\n" + listing + ";\nCOMMIT;\n"
    # RLS pair: identical round trips (BEGIN, set_config, list, COMMIT); only the tenant filter differs.
    context = (
        "SELECT set_config('app.org_id', md5('keel-bench-org-' || :n)::uuid::text, true) AS org, "
        "set_config('app.user_id', '', true) \\gset\n"
    )
    policy = header + "BEGIN;\n" + context + listing + ";\nCOMMIT;\n"
    explicit_script = header + "BEGIN;\n" + context + explicit + ";\nCOMMIT;\n"
    paths = {
        "api": RESULTS / "pgbench-api.sql",
        "policy": RESULTS / "pgbench-rls-policy.sql",
        "explicit": RESULTS / "pgbench-rls-explicit.sql",
    }
    for name, text_ in (("api", api), ("policy", policy), ("explicit", explicit_script)):
        paths[name].write_text(text_)
    return paths


# --------------------------------------------------------------------------------------------------
# 3. The API under wrk


class ApiProcess:
    def __init__(
        self,
        workers: int,
        pool_size: int,
        max_overflow: int,
        port: int,
        admin: Conn,
        redis_url: str | None = None,
    ) -> None:
        self.workers = workers
        self.port = port
        self.log_path = RESULTS / f"api-workers{workers}.log"
        env = {
            **os.environ,
            "DATABASE_URL": admin.libpq_url(),
            "KEEL_ENV": "prod",
            "KEEL_LOG_LEVEL": "WARNING",
            "KEEL_RATE_LIMIT": "100000000/minute",
            "KEEL_PLAN_RATE_LIMITS": '{"standard": "100000000/minute"}',
            "KEEL_API_WORKERS": str(workers),
            "KEEL_DB_POOL_SIZE": str(pool_size),
            "KEEL_DB_MAX_OVERFLOW": str(max_overflow),
        }
        if redis_url:  # shared state as in production: policy, role cache and limits in Redis
            env["REDIS_URL"] = redis_url
        uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
        self.cmd = [uv, "run", "--project", "backend", "--locked", "keel", "serve", "--port", str(port)]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise BenchError(f"port {self.port} is already in use")
        log(f"starting API: {' '.join(self.cmd[1:])} (workers={self.workers})")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"API exited with {self.proc.returncode}; see {self.log_path}")
            try:
                status, _ = http_get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise BenchError(f"API not ready after 90 s; see {self.log_path}")

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # uvicorn's workers share the group; make sure none is left behind.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()
        self.proc = None


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def preflight(port: int, admin: Conn, secrets_list: list[str], orgs: int) -> None:
    """A few real requests: 200, 50 items, exactly that organisation's 50 newest rows; bad key -> 401."""
    for n in (1, orgs // 2, orgs):
        status, body = http_get(
            f"http://127.0.0.1:{port}{ENDPOINT}", {"Authorization": f"Bearer {secrets_list[n - 1]}"}
        )
        if status != 200:
            raise BenchError(f"preflight org {n}: HTTP {status}: {body[:300]!r}")
        page = json.loads(body)
        ids = [item["id"] for item in page["items"]]
        with psycopg.connect(admin.conninfo()) as conn:
            expected = [
                str(r[0])
                for r in conn.execute(
                    "SELECT id FROM keel.audit_events WHERE org_id = md5('keel-bench-org-' || %s)::uuid "
                    "ORDER BY created_at DESC, id DESC LIMIT 50",
                    (str(n),),
                )
            ]
        if ids != expected or not page["next_cursor"]:
            raise BenchError(f"preflight org {n}: the page is not the organisation's 50 newest events")
    status, _ = http_get(f"http://127.0.0.1:{port}{ENDPOINT}", {"Authorization": "Bearer keel_sk_nope"})
    if status != 401:
        raise BenchError(f"preflight: a bad key answered {status}, expected 401")


def metrics_counts(port: int) -> dict[str, float]:
    """keel_http_requests_total for the list route, by status (one worker's view)."""
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    counts: dict[str, float] = {}
    if status != 200:
        return counts
    pattern = re.compile(r"^keel_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
    for line in body.decode().splitlines():
        m = pattern.match(line)
        if m and f'route="{LIST_ROUTE}"' in m.group("labels"):
            code = re.search(r'status="(\d+)"', m.group("labels"))
            if code:
                counts[code.group(1)] = counts.get(code.group(1), 0) + float(m.group("value"))
    return counts


class ActivitySampler:
    """Polls pg_stat_activity for the API's connections: the statements the server really receives."""

    def __init__(self, admin: Conn) -> None:
        self.admin = admin
        self.queries: dict[str, int] = {}
        self.max_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.admin.conninfo(), autocommit=True) as conn:
            while not self._stop.wait(0.5):
                rows = conn.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name = 'keel-app' "
                    "AND datname = current_database()"
                ).fetchall()
                self.max_connections = max(self.max_connections, len(rows))
                for (query,) in rows:
                    key = one_line(query or "")
                    if not key:
                        continue  # a connection that has not run anything yet
                    self.queries[key] = self.queries.get(key, 0) + 1

    def __enter__(self) -> ActivitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_wrk(port: int, keys: Path, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(BENCH_DIR / "audit_list.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        str(keys),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise BenchError(f"no summary from wrk: {out.stdout}")
    result = json.loads(line[len("WRK_JSON ") :])
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    result["stdout"] = out.stdout
    return result


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing it with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")


def bench_api(
    args: argparse.Namespace,
    workers: int,
    admin: Conn,
    keys: Path,
    secrets_list: list[str],
    expected_statements: list[str],
) -> dict[str, Any]:
    pool_size = args.pool_size or max(8, -(-args.connections // workers) // 2)
    api = ApiProcess(workers, pool_size, args.max_overflow, args.port, admin, args.redis)
    try:
        api.start()
        preflight(args.port, admin, secrets_list, args.orgs)
        log(f"warm-up {args.warmup}s")
        run_wrk(args.port, keys, args.warmup, args.connections, args.wrk_threads)
        quiet = wait_for_quiet(f"api workers={workers}", args.quiet_wait)
        before = metrics_counts(args.port) if workers == 1 else {}
        load_before = loadavg()
        log(f"measuring {args.duration}s: wrk -c{args.connections} -t{args.wrk_threads}, workers={workers}")
        with CpuSampler(api.pgid, admin.dbname) as cpu, ActivitySampler(admin) as activity:
            result = run_wrk(args.port, keys, args.duration, args.connections, args.wrk_threads)
        after = metrics_counts(args.port) if workers == 1 else {}
    finally:
        api.stop()
    server_statuses = {k: after.get(k, 0) - before.get(k, 0) for k in after} if workers == 1 else None
    non2xx_server = (
        sum(v for k, v in server_statuses.items() if not k.startswith("2")) if server_statuses else None
    )
    observed = sorted(activity.queries, key=lambda q: -activity.queries[q])
    unexpected = [q for q in observed if q not in expected_statements]
    errors = result["errors"]
    return {
        "workers": workers,
        "db_pool_size": pool_size,
        "db_max_overflow": args.max_overflow,
        "rps": result["rps"],
        "requests": result["requests"],
        "duration_s": round(result["duration_us"] / 1e6, 2),
        "latency_ms": {k: round(v / 1000, 2) for k, v in result["latency_us"].items()},
        "errors": errors,
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "server_status_counts": server_statuses,
        "server_non_2xx": non2xx_server,
        "cpu": cpu.report(),
        "loadavg_before": load_before,
        "quiet_before": quiet,
        "api_db_connections_seen": activity.max_connections,
        "statements_seen_in_pg_stat_activity": observed,
        "statements_not_matching_capture": unexpected,
        "wrk_stdout": result["stdout"],
    }


# --------------------------------------------------------------------------------------------------
# 4-5. pgbench and EXPLAIN


def run_pgbench(
    conn: Conn, script: Path, clients: int, seconds: int, defines: dict[str, str], per_statement: bool = False
) -> dict[str, Any]:
    cmd = [
        "pgbench",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(seconds),
        "-n",
        "-f",
        str(script),
    ]
    if per_statement:
        cmd.append("-r")
    for key, value in defines.items():
        cmd += ["-D", f"{key}={value}"]
    with CpuSampler(dbname=conn.dbname) as cpu:
        out = subprocess.run(
            cmd, capture_output=True, text=True, env=conn.env(), check=False, timeout=seconds + 120
        )
    if out.returncode != 0:
        raise BenchError(f"pgbench failed ({out.returncode}): {out.stderr.strip()}\n{out.stdout}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if not tps:
        raise BenchError(f"cannot parse pgbench output:\n{out.stdout}")
    statements: list[dict[str, Any]] = []
    if per_statement:
        for line in out.stdout.splitlines():
            m = re.match(r"^\s+([\d.]+)\s+(\d+)\s+(.*)$", line)
            if m:
                statements.append(
                    {"ms": float(m.group(1)), "failures": int(m.group(2)), "statement": m.group(3)[:120]}
                )
    return {
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "transactions": int(processed.group(1)) if processed else None,
        "failed": int(failed.group(1)) if failed else 0,
        "clients": clients,
        "seconds": seconds,
        "per_statement_ms": statements,
        "cpu": cpu.report(),
        "stdout": out.stdout,
    }


def explain_policy(app_conn: Conn, bypass: Conn, list_sql: str, limit_param: str | None) -> dict[str, Any]:
    literal = one_line(list_sql)
    if limit_param:
        literal = re.sub(r"%\(" + limit_param + r"\)s", "51", literal)
    explicit = literal.replace(
        "FROM keel.audit_events ORDER BY",
        "FROM keel.audit_events WHERE keel.audit_events.org_id = md5('keel-bench-org-42')::uuid ORDER BY",
    )
    plans: dict[str, str] = {}
    for name, conn_, sql in (("policy", app_conn, literal), ("explicit", bypass, explicit)):
        with psycopg.connect(conn_.conninfo()) as conn:
            for _ in range(2):  # the second run is the one kept: warm cache, as under load
                conn.execute(
                    "SELECT set_config('app.org_id', md5('keel-bench-org-42')::uuid::text, true), "
                    "set_config('app.user_id', '', true)"
                )
                rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()  # type: ignore[arg-type]
                conn.rollback()
            plans[name] = "\n".join(r[0] for r in rows)
    plan = plans["policy"]
    checks = {
        "initplan_for_policy": bool(re.search(r"InitPlan \d+ \(returns \$\d+\)", plan)),
        "index_cond_on_org_id": bool(re.search(r"Index Cond: \(.*org_id = \$\d+\)", plan)),
        # Each month's partition has its own copy of ix_audit_events_org_id_created_at_id.
        "uses_org_created_at_index": bool(
            re.search(r"Index Scan Backward using \S*org_id_created_at_id", plan)
        ),
        "no_sort_node": not re.search(r"^\s*(->\s*)?Sort\s+\(", plan, re.M),  # "Sort Key:" is no node
        "no_rls_filter": "Filter:" not in plan,
    }
    rows_match = re.search(r"Limit\s+\(.*?\) \(actual time=[\d.]+\.\.[\d.]+ rows=(\d+)", plan)
    checks["returns_51_rows"] = bool(rows_match and rows_match.group(1) == "51")
    return {
        "sql": literal,
        "policy_plan": plan,
        "explicit_plan": plans["explicit"],
        "checks": checks,
        "pass": checks["initplan_for_policy"] and checks["index_cond_on_org_id"],
    }


# --------------------------------------------------------------------------------------------------
# Summary


def machine_info(admin: Conn) -> dict[str, Any]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(
        next(
            ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
        ).split()[1]
    )
    with psycopg.connect(admin.conninfo()) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        settings = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'max_connections', 'synchronous_commit', 'jit', "
                "'random_page_cost', 'effective_cache_size')"
            ).fetchall()
        )
        sizes = conn.execute(
            "SELECT pg_size_pretty(pg_table_size('keel.audit_events')), "
            "pg_size_pretty(pg_indexes_size('keel.audit_events'))"
        ).fetchone()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    pgbench_version = subprocess.run(
        ["pgbench", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": version,
        "postgres_settings": settings,
        "audit_events_table_size": sizes[0] if sizes else None,
        "audit_events_index_size": sizes[1] if sizes else None,
        "wrk": (wrk_version.splitlines() or ["?"])[0],
        "pgbench": pgbench_version,
    }


def print_summary(result: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []
    for api in result["api"]:
        lat = api["latency_ms"]
        per = api["cpu_ms_per_request"]
        rows.append(
            (
                f"API workers={api['workers']} (pool {api['db_pool_size']})",
                f"{api['rps']:.0f} req/s",
                f"p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} ms, "
                f"non-2xx {api['non_2xx']}, socket errors {api['socket_errors']}",
            )
        )
        rows.append(
            (
                "  CPU per request",
                f"{per['api'] + per['postgres']:.2f} ms",
                f"API {per['api']:.2f} + postgres {per['postgres']:.2f} ms (wrk {per['wrk']:.2f}); "
                f"other work on the machine: {api['cpu']['other_cores']:.2f} cores",
            )
        )
    pg = result["pgbench_api_sql"]
    rows.append(
        (
            "pgbench, same SQL (c64)",
            f"{pg['tps']:.0f} tps",
            f"avg {pg['latency_avg_ms']:.1f} ms, failed {pg['failed']}",
        )
    )
    rows.append(
        (
            "  CPU per transaction",
            f"{pg['cpu_ms_per_tx']['postgres']:.2f} ms",
            f"postgres (pgbench {pg['cpu_ms_per_tx']['pgbench']:.2f} ms); other work on the "
            f"machine: {pg['cpu']['other_cores']:.2f} cores",
        )
    )
    for ratio in result["ratios"]["api_vs_pgbench"]:
        rows.append(
            (
                f"API/pgbench workers={ratio['workers']}",
                f"{ratio['ratio']:.2f}",
                f"target >= {TARGET_API_VS_PGBENCH}: {'MET' if ratio['met'] else 'MISSED'} "
                f"(CPU-normalised: {ratio['cpu_normalised_ratio']:.2f})",
            )
        )
    rls = result["rls"]
    rows.append(
        (
            "RLS policy (keel_app, c8)",
            f"{rls['policy']['tps']:.0f} tps",
            f"avg {rls['policy']['latency_avg_ms']:.2f} ms",
        )
    )
    rows.append(
        (
            "explicit org_id (BYPASSRLS, c8)",
            f"{rls['explicit']['tps']:.0f} tps",
            f"avg {rls['explicit']['latency_avg_ms']:.2f} ms",
        )
    )
    rows.append(
        (
            "RLS cost policy/explicit (time)",
            f"{rls['ratio']:.3f}",
            f"target <= {TARGET_RLS_RATIO}: {'MET' if rls['met'] else 'MISSED'}",
        )
    )
    checks = result["explain"]["checks"]
    rows.append(
        (
            "EXPLAIN InitPlan + Index Cond",
            "PASS" if result["explain"]["pass"] else "FAIL",
            ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in checks.items()),
        )
    )
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print("\n" + "=" * 100)
    print("Keel bench summary")
    print("=" * 100)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {note}")
    print("=" * 100)
    print(f"results: {RESULTS / 'latest.json'}")


# --------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orgs", type=int, default=1000)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--workers", default="1,2", help="KEEL_API_WORKERS values to run, comma-separated")
    p.add_argument(
        "--pool-size",
        type=int,
        default=0,
        help="KEEL_DB_POOL_SIZE per worker (default: max(8, connections/workers/2))",
    )
    p.add_argument("--max-overflow", type=int, default=4, help="KEEL_DB_MAX_OVERFLOW per worker")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--duration", type=int, default=20, help="seconds of each measured run")
    p.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="seconds of load before each measured API run (the API needs ~30 s to reach steady state)",
    )
    p.add_argument("--rls-duration", type=int, default=10)
    p.add_argument("--port", type=int, default=8099)
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="before each measured phase, wait up to this many seconds for other work on the "
        "machine to stop (recorded in latest.json either way)",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help="run the API with REDIS_URL (e.g. redis://127.0.0.1:6379/14), as a deployment of several "
        "processes does; without it, shared state is in-process",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="keep the existing bench database and keys (skip drop, migrate and seed)",
    )
    return p.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    if not shutil.which("pgbench"):
        raise BenchError("pgbench is not installed (Debian: apt-get install postgresql-client)")

    settings = get_settings()
    admin = conn_from_url(admin_url(settings))
    app_conn = conn_from_url(role_url(settings, APP_ROLE))
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "database": f"{admin.host}:{admin.port}/{admin.dbname}",
        "params": {k: v for k, v in vars(args).items()},
    }
    keys_state = RESULTS / "bench-state.json"
    bypass: Conn | None = None
    try:
        if args.reuse and keys_state.exists():
            state = json.loads(keys_state.read_text())
            key_base = state["key_base"]
            log(f"reusing database {admin.dbname} (seeded {state['seeded_at']})")
            result["seed"] = {"reused": True, **state}
        else:
            log(f"recreating database {admin.dbname} and migrating")
            t0 = time.monotonic()
            recreate_database(admin)
            from keel.core.migrate import migrate

            migrate(settings, url=admin_url(settings))
            create_past_audit_months(settings)
            migrate_s = round(time.monotonic() - t0, 1)
            key_base = "keel_sk_" + secrets.token_urlsafe(30)
            log(f"seeding {args.orgs} organisations + keys and {args.events:,} audit events")
            timings = seed(admin, args.orgs, args.events, key_base)
            state = {
                "key_base": key_base,
                "orgs": args.orgs,
                "events": args.events,
                "seeded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            keys_state.write_text(json.dumps(state))
            keys_state.chmod(0o600)
            result["seed"] = {
                "reused": False,
                "migrate_s": migrate_s,
                **timings,
                "orgs": args.orgs,
                "events": args.events,
            }
            log(f"seeded: {timings}")
        keys_file, secrets_list = write_keys(key_base, args.orgs)
        result["machine"] = machine_info(admin)

        log("capturing the SQL the endpoint emits (in-process request)")
        captured, sql = capture_endpoint_sql(secrets_list[0])
        # Keel writes the page size into the statement (keel.core.pagination); a bound one is \set to 51.
        bound = re.search(r"%\((\w+)\)s", sql["list"])
        limit_param = bound.group(1) if bound else None
        result["endpoint_sql"] = {
            "sequence": [f"{kind}: {one_line(s)}" for kind, s in captured.events],
            "server_text": {k: to_server_text(v) for k, v in sql.items()},
        }
        # Each API process reads an organisation's policy when its cached copy is missing or expired.
        policy_read = (
            "SELECT keel.organizations.settings, keel.organizations.access_version FROM keel.organizations "
            "WHERE keel.organizations.id = $1::UUID"
        )
        expected = ["BEGIN", "COMMIT", policy_read, *result["endpoint_sql"]["server_text"].values()]
        scripts = write_pgbench_scripts(sql, limit_param)

        result["api"] = []
        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            result["api"].append(bench_api(args, workers, admin, keys_file, secrets_list, expected))
            api = result["api"][-1]
            log(
                f"API workers={workers}: {api['rps']:.0f} req/s, p50 {api['latency_ms']['p50']} ms, "
                f"p99 {api['latency_ms']['p99']} ms, non-2xx {api['non_2xx']}"
            )

        log(f"pgbench, endpoint SQL as keel_app: -M prepared -c {args.connections} -j 2 -T {args.duration}")
        defines = {"orgs": str(args.orgs), "key_base": key_base}
        wait_for_quiet("pgbench endpoint SQL", args.quiet_wait)
        result["pgbench_api_sql"] = run_pgbench(
            app_conn, scripts["api"], args.connections, args.duration, defines, per_statement=True
        )
        log(f"pgbench: {result['pgbench_api_sql']['tps']:.0f} tps")

        log("RLS overhead: policy (keel_app) vs explicit WHERE org_id (BYPASSRLS role), -c 8")
        bypass = create_bypass_role(admin)
        run_pgbench(app_conn, scripts["policy"], 8, 3, defines)  # warm-up
        run_pgbench(bypass, scripts["explicit"], 8, 3, defines)
        # Three alternating rounds; the median round is reported, so one noisy phase cannot decide.
        rounds = []
        for number in range(1, 4):
            wait_for_quiet(f"rls policy round {number}", args.quiet_wait)
            policy = run_pgbench(app_conn, scripts["policy"], 8, args.rls_duration, defines)
            wait_for_quiet(f"rls explicit round {number}", args.quiet_wait)
            explicit = run_pgbench(bypass, scripts["explicit"], 8, args.rls_duration, defines)
            # time per transaction: policy / explicit
            rounds.append((explicit["tps"] / policy["tps"], policy, explicit))
        rounds.sort(key=lambda r: r[0])
        ratio, policy, explicit = rounds[1]
        result["rls"] = {
            "policy": policy,
            "explicit": explicit,
            "round_ratios": [round(r[0], 3) for r in rounds],
            "ratio": round(ratio, 3),
            "target": TARGET_RLS_RATIO,
            "met": ratio <= TARGET_RLS_RATIO,
        }
        result["explain"] = explain_policy(app_conn, bypass, sql["list"], limit_param)
        (RESULTS / "explain-policy.txt").write_text(result["explain"]["policy_plan"] + "\n")
        (RESULTS / "explain-explicit.txt").write_text(result["explain"]["explicit_plan"] + "\n")
        print("\nEXPLAIN (ANALYZE, BUFFERS), policy query as keel_app:\n" + result["explain"]["policy_plan"])
        print(
            f"plan checks: {result['explain']['checks']} -> {'PASS' if result['explain']['pass'] else 'FAIL'}"
        )

        pg = result["pgbench_api_sql"]
        pg_tps = pg["tps"]
        # CPU cost per unit of work, from the /proc samples: robust to other work on a shared machine.
        pg_cpu_per_tx = 1000 * (pg["cpu"]["postgres_cores"] + pg["cpu"]["pgbench_cores"]) / pg_tps
        pg["cpu_ms_per_tx"] = {
            "postgres": round(1000 * pg["cpu"]["postgres_cores"] / pg_tps, 3),
            "pgbench": round(1000 * pg["cpu"]["pgbench_cores"] / pg_tps, 3),
        }
        for a in result["api"]:
            a["cpu_ms_per_request"] = {
                k: round(1000 * a["cpu"][f"{k}_cores"] / a["rps"], 3) for k in ("api", "postgres", "wrk")
            }
        result["ratios"] = {
            "api_vs_pgbench": [
                {
                    "workers": a["workers"],
                    "ratio": round(a["rps"] / pg_tps, 3),
                    "met": a["rps"] / pg_tps >= TARGET_API_VS_PGBENCH,
                    # what the ratio would be if each side had the machine's cores to itself
                    "cpu_normalised_ratio": round(pg_cpu_per_tx / sum(a["cpu_ms_per_request"].values()), 3),
                }
                for a in result["api"]
            ],
            "target": TARGET_API_VS_PGBENCH,
        }
        failures = []
        for a in result["api"]:
            if a["non_2xx"] or a["socket_errors"] or a["server_non_2xx"]:
                failures.append(f"API workers={a['workers']}: non-2xx/socket errors")
            if a["statements_not_matching_capture"]:
                failures.append(f"API workers={a['workers']}: statements not seen in the capture")
        if result["pgbench_api_sql"]["failed"]:
            failures.append("pgbench: failed transactions")
        if not result["explain"]["pass"]:
            failures.append("EXPLAIN: policy plan check failed")
        result["checks_failed"] = failures
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        print_summary(result)
        for failure in failures:
            print(f"CHECK FAILED: {failure}")
        print(f"elapsed {result['elapsed_s']} s")
        return 1 if failures else 0
    finally:
        if bypass is not None:
            drop_bypass_role(admin)
        result.setdefault("elapsed_s", round(time.monotonic() - started, 1))
        result["machine_quiet_checks"] = QUIET_LOG
        # A run that did not get to the end must not replace the last complete one.
        name = "latest.json" if "checks_failed" in result else "incomplete.json"
        (RESULTS / name).write_text(json.dumps(result, indent=2, default=str) + "\n")


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except BenchError as exc:
        log(f"FAILED: {exc}")
        sys.exit(2)
    except KeyboardInterrupt as exc:
        log(f"interrupted: {exc}")
        sys.exit(130)
