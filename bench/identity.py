"""Identity benchmark: access-token checks, password hashing and the token endpoint (about 1 minute).

    uv run --project backend --locked python bench/identity.py [--help]     # also run by `make bench`

1. Checking an access token, in-process, no database (median and p95 in µs over 20,000 iterations):
   (a) `validate_access_token` (ES256); (b) the same plus a DPoP proof with a fresh `jti`, replay guard
   in memory; (c) the same, replay guard in Redis; (d) the revocation lookup `is_revoked` (one MGET).
   Proofs are signed in batches before each timed loop, so only checking them is timed.
2. argon2id with Keel's parameters: ms per hash and per verify, and hashes/s through `hash_password`
   with 8 concurrent tasks (it runs at most 4 threads).
3. `POST /oauth/token` (refresh_token grant) against `keel serve` on a fresh `keel_bench_identity`
   database: one client per refresh-token chain, each rotating its token in a loop.

Prints a summary and writes bench/results/identity.json (git-ignored). Redis: db 14 on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.fernet import Fernet

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
DATABASE_URL = os.environ.get(
    "BENCH_IDENTITY_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/keel_bench_identity"
)
REDIS_URL = "redis://127.0.0.1:6379/14"
PORT = int(os.environ.get("BENCH_IDENTITY_PORT", "8098"))
BASE_URL = f"http://127.0.0.1:{PORT}"
CLIENT_ID, REDIRECT_URI = "bench-web", "https://bench.test/cb"
PASSWORD = "bench correct horse battery staple 42"  # noqa: S105 - a throwaway benchmark user's password
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')

# Settings are read once, on first use: configure them (for this process and `keel serve`) before keel loads.
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    REDIS_URL=REDIS_URL,
    KEEL_ENV="prod",
    KEEL_LOG_LEVEL="WARNING",
    KEEL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    KEEL_PUBLIC_URL=BASE_URL,
    KEEL_API_PORT=str(PORT),
    KEEL_RATE_LIMIT="100000000/minute",
    # The load comes from one address and a few users: measure the endpoint, not the limits.
    KEEL_PLAN_RATE_LIMITS='{"standard": "100000000/minute"}',
    KEEL_RATE_LIMIT_USER="100000000/minute",
    KEEL_RATE_LIMIT_TOKEN="100000000/minute",  # noqa: S106 - a limit, not a secret
    KEEL_RATE_LIMIT_SIGN_IN="100000000/minute",
)
for _var in ("KEEL_APP_DATABASE_URL", "KEEL_PLATFORM_DATABASE_URL", "KEEL_REDIS_URL"):
    os.environ.pop(_var, None)

import httpx  # noqa: E402
import uvloop  # noqa: E402
from benchdb import recreate_database  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import ECKey, KeySet  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from keel.core.cache import MemoryState, RedisState, SharedState  # noqa: E402
from keel.core.db import platform_database, runtime_database  # noqa: E402
from keel.core.keyring import get_key_ring  # noqa: E402
from keel.core.platform import platform_unit_of_work  # noqa: E402
from keel.core.uow import job_unit_of_work  # noqa: E402
from keel.identity import passwords  # noqa: E402
from keel.identity.users import add_membership, create_user  # noqa: E402
from keel.identity.clients import register_client  # noqa: E402
from keel.identity.dpop import SharedStateReplayGuard, access_token_hash, check_proof  # noqa: E402
from keel.identity.revocation import is_revoked  # noqa: E402
from keel.identity.signing_keys import rotate_signing_key  # noqa: E402
from keel.identity.tokens import AccessToken, issue_access_token, new_signing_key, validate_access_token  # noqa: E402
from keel.onboarding.flows import onboard_organization  # noqa: E402


def log(message: str) -> None:
    print(f"[identity {time.strftime('%H:%M:%S')}] {message}", flush=True)


def summary(samples: list[float], unit: str) -> dict[str, Any]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"unit": unit, "n": len(ordered), "median": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)}


def machine_ticks() -> tuple[int, int]:
    """(all, idle) CPU ticks of the whole machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(parts[:8]), parts[3] + parts[4]


def busy_cores(start: tuple[int, int], end: tuple[int, int]) -> float:
    (t0, i0), (t1, i1) = start, end
    return round((os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0)), 2)


def wait_for_quiet(max_wait: float) -> float:
    """Other work on a shared machine skews every figure: wait (bounded) until it is idle. Returns
    the cores others kept busy in the last second before the phase started (recorded in the JSON)."""
    deadline = time.monotonic() + max_wait
    while True:
        start = machine_ticks()
        time.sleep(1.0)
        busy = busy_cores(start, machine_ticks())
        if busy <= 0.3:
            return busy
        if time.monotonic() >= deadline:
            log(f"other work keeps {busy:.2f} cores busy after {max_wait:.0f} s: figures may be low")
            return busy


# --------------------------------------------------------------------------------------------------
# 1. Access-token checks, in-process


@dataclass(frozen=True)
class TokenFixture:
    keys: KeySet
    issuer: str
    audience: str
    token: str  # bound to `dpop_key` (cnf.jkt)
    dpop_key: ECKey


def token_fixture() -> TokenFixture:
    signing_key, dpop_key = new_signing_key(), ECKey.generate_key("P-256")
    issuer, audience = BASE_URL, BASE_URL + "/api"
    claims = AccessToken(
        subject=str(uuid.uuid4()),
        client_id=CLIENT_ID,
        org_id=str(uuid.uuid4()),
        roles=("sales_rep",),
        scope="api",
        confirmation_jkt=dpop_key.thumbprint(),
        extra={"sid": str(uuid.uuid4()), "auth_time": int(time.time())},
    )
    token = issue_access_token(claims, signing_key=signing_key, issuer=issuer, audience=audience)
    public = KeySet([ECKey.import_key(signing_key.as_dict(private=False))])
    return TokenFixture(public, issuer, audience, token, dpop_key)


def dpop_proofs(fx: TokenFixture, url: str, count: int) -> list[str]:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": fx.dpop_key.as_dict(private=False)}
    ath = access_token_hash(fx.token)
    return [
        jwt.encode(
            header,
            {"jti": secrets.token_urlsafe(16), "htm": "GET", "htu": url, "iat": int(time.time()), "ath": ath},
            fx.dpop_key,
            algorithms=["ES256"],
        )
        for _ in range(count)
    ]


def time_validate(fx: TokenFixture, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        validate_access_token(fx.token, keys=fx.keys, issuer=fx.issuer, audience=fx.audience)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


async def time_validate_dpop(fx: TokenFixture, state: SharedState, iterations: int) -> list[float]:
    """validate + check_proof + the cnf.jkt comparison, as the resource side does for a DPoP token.
    Proofs are built in batches just before they are checked, so each stays inside the 60 s window."""
    url, replay, samples = fx.audience + "/v1/me", SharedStateReplayGuard(state), []
    for start in range(0, iterations, 2000):
        for proof in dpop_proofs(fx, url, min(2000, iterations - start)):
            t0 = time.perf_counter_ns()
            claims = validate_access_token(fx.token, keys=fx.keys, issuer=fx.issuer, audience=fx.audience)
            checked = await check_proof(proof, method="GET", url=url, replay=replay, access_token=fx.token)
            if checked.jkt != claims["cnf"]["jkt"]:
                raise RuntimeError("the proof's key is not the one the token is bound to")
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


async def time_revocation(fx: TokenFixture, state: SharedState, iterations: int) -> list[float]:
    claims = validate_access_token(fx.token, keys=fx.keys, issuer=fx.issuer, audience=fx.audience)
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        if await is_revoked(state, claims):
            raise RuntimeError("the token is unexpectedly revoked")
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


async def bench_token_checks(iterations: int, quiet_wait: float) -> dict[str, Any]:
    fx = token_fixture()
    time_validate(fx, 500)  # warm-up
    out: dict[str, Any] = {"busy_cores_before": wait_for_quiet(quiet_wait), "iterations": iterations}
    started = machine_ticks()
    out["validate"] = summary(time_validate(fx, iterations), "µs")
    out["validate_dpop_memory"] = summary(await time_validate_dpop(fx, MemoryState(), iterations), "µs")
    redis = Redis.from_url(REDIS_URL)
    try:
        state = RedisState(redis)
        out["validate_dpop_redis"] = summary(await time_validate_dpop(fx, state, iterations), "µs")
        out["is_revoked_redis"] = summary(await time_revocation(fx, state, iterations), "µs")
    finally:
        await redis.aclose()
    out["machine_busy_cores"] = busy_cores(started, machine_ticks())  # this loop alone keeps 1 busy (+ Redis)
    return out


# --------------------------------------------------------------------------------------------------
# 2. Password hashing


async def bench_passwords(rounds: int, quiet_wait: float, concurrent: int = 8) -> dict[str, Any]:
    hasher, password = passwords.HASHER, "a benchmark passphrase of middling length"
    stored = hasher.hash(password)  # warm-up
    out: dict[str, Any] = {
        "busy_cores_before": wait_for_quiet(quiet_wait),
        "parameters": {"time_cost": hasher.time_cost, "memory_kib": hasher.memory_cost, "lanes": 1},
    }
    hashes, verifies, started = [], [], machine_ticks()
    for _ in range(rounds):
        t0 = time.perf_counter()
        hasher.hash(password)
        hashes.append((time.perf_counter() - t0) * 1000)
    for _ in range(rounds):
        t0 = time.perf_counter()
        hasher.verify(stored, password)
        verifies.append((time.perf_counter() - t0) * 1000)
    out["hash"], out["verify"] = summary(hashes, "ms"), summary(verifies, "ms")

    per_task = max(2, rounds // 4)  # 8 tasks x 7 hashes by default: 56 hashes, over a second

    async def task() -> None:
        for _ in range(per_task):
            await passwords.hash_password(password)

    t0 = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrent)))
    elapsed = time.perf_counter() - t0
    out["concurrent"] = {
        "tasks": concurrent,
        "threads": passwords.CONCURRENT_HASHES,
        "hashes": per_task * concurrent,
        "hashes_per_s": round(per_task * concurrent / elapsed, 1),
    }
    out["machine_busy_cores"] = busy_cores(started, machine_ticks())
    return out


# --------------------------------------------------------------------------------------------------
# 3. The token endpoint under `keel serve`


async def seed(users: int) -> list[str]:
    """An organisation, a signing key, the first-party client and `users` members; returns e-mails."""
    async with platform_unit_of_work("bench") as uow:
        org, _ = await onboard_organization(uow, "Bench Identity", "bench-identity")
    async with platform_unit_of_work("bench") as uow:
        await rotate_signing_key(uow, get_key_ring())
    async with platform_unit_of_work("bench") as uow:
        await register_client(uow, CLIENT_ID, "Bench", [REDIRECT_URI], first_party=True)
    emails = [f"bench{n:03d}@example.com" for n in range(users)]
    async with job_unit_of_work(runtime_database(), org.id) as uow:
        for email in emails:
            user = await create_user(uow, email, PASSWORD, verified=True)
            await add_membership(uow, user.id, "sales_rep")
    await runtime_database().dispose()
    await platform_database().dispose()
    return emails


class Api:
    """`keel serve` in its own process group; `stop` ends the whole group."""

    def __init__(self, workers: int) -> None:
        uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
        self.cmd = [uv, "run", "--project", "backend", "--locked", "keel", "serve", "--port", str(PORT)]
        self.env = {**os.environ, "KEEL_API_WORKERS": str(workers)}
        self.log_path = RESULTS / "identity-api.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", PORT)) == 0:
                raise RuntimeError(f"port {PORT} is already in use")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own fixed command
                self.cmd,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(BASE_URL + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"API not ready after 90 s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of the API's group (uv, uvicorn, its workers)."""
        total = 0
        for entry in Path("/proc").iterdir():
            try:
                raw = (entry / "stat").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue
            fields = raw[raw.rfind(")") + 2 :].split()
            if fields and self.proc and int(fields[2]) == self.proc.pid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.proc = None


def expect(answer: httpx.Response, status: int, step: str) -> httpx.Response:
    if answer.status_code != status:
        raise RuntimeError(f"{step}: HTTP {answer.status_code}, expected {status}: {answer.text[:300]}")
    return answer


def keep_cookies(jar: dict[str, str], answer: httpx.Response) -> dict[str, str]:
    """`__Host-` cookies are Secure, which a client on plain http will not send back: carry them by hand."""
    for raw in answer.headers.get_list("set-cookie"):
        name, _, rest = raw.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}


async def first_refresh_token(http: httpx.AsyncClient, email: str) -> str:
    """Sign in, authorize with PKCE (S256), redeem the code: the browser flow a web client runs."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": "api"}
    params |= {
        "state": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize, jar = "/oauth/authorize?" + urlencode(params), {}
    page = expect(await http.get("/login", params={"next": authorize}), 200, "GET /login")
    cookies = keep_cookies(jar, page)
    csrf = CSRF_FIELD.search(page.text)
    form = {"csrf": csrf.group(1) if csrf else "", "email": email, "password": PASSWORD, "next": authorize}
    cookies = keep_cookies(
        jar, expect(await http.post("/login", data=form, headers=cookies), 303, "POST /login")
    )
    answer = expect(await http.get(authorize, headers=cookies), 302, "GET /oauth/authorize")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    redeem = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    redeem |= {"client_id": CLIENT_ID, "code_verifier": verifier}
    answer = expect(await http.post("/oauth/token", data=redeem), 200, "POST /oauth/token (code)")
    return str(answer.json()["refresh_token"])


@dataclass
class Load:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


async def drive(tokens: list[str], seconds: float) -> Load:
    """One worker per refresh-token chain: refresh, keep the new token, again, until the deadline."""
    load, deadline = Load(), time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=BASE_URL, limits=limits, timeout=30) as http:

        async def worker(n: int) -> None:
            while time.monotonic() < deadline:
                form = {"grant_type": "refresh_token", "refresh_token": tokens[n], "client_id": CLIENT_ID}
                t0 = time.perf_counter()
                try:
                    answer = await http.post("/oauth/token", data=form)
                except httpx.HTTPError as exc:
                    load.errors.append(repr(exc))
                    return
                if answer.status_code != 200:  # the chain is broken (or throttled): stop this worker
                    load.errors.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    return
                load.latencies_ms.append((time.perf_counter() - t0) * 1000)
                tokens[n] = answer.json()["refresh_token"]

        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(len(tokens))))
        load.elapsed_s = time.monotonic() - started
    return load


async def bench_token_endpoint(args: argparse.Namespace) -> dict[str, Any]:
    log(f"recreating {DATABASE_URL.rsplit('/', 1)[1]}, migrating, seeding {args.clients} users")
    recreate_database(DATABASE_URL)
    emails = await seed(args.clients)
    api = Api(args.workers)
    log(f"starting {shlex.join(api.cmd[1:])} (KEEL_API_WORKERS={args.workers})")
    api.start()
    try:
        async with httpx.AsyncClient(base_url=BASE_URL, timeout=30) as http:
            tokens = [await first_refresh_token(http, email) for email in emails]
        log(f"{len(tokens)} refresh-token chains; warm-up {args.warmup} s, then {args.duration} s")
        warm = await drive(tokens, args.warmup)
        if warm.errors:
            raise RuntimeError(f"warm-up failed: {warm.errors[:3]}")
        busy = wait_for_quiet(args.quiet_wait)
        cpu0, own0, machine0 = api.cpu_seconds(), time.process_time(), machine_ticks()
        load = await drive(tokens, args.duration)
        api_cpu, own_cpu = api.cpu_seconds() - cpu0, time.process_time() - own0
        machine_cores = busy_cores(machine0, machine_ticks())
    finally:
        api.stop()
    done = len(load.latencies_ms)
    return {
        "busy_cores_before": busy,
        "workers": args.workers,
        "clients": len(tokens),
        "duration_s": round(load.elapsed_s, 2),
        "requests": done,
        "rps": round(done / load.elapsed_s, 1),
        "latency": summary(load.latencies_ms, "ms") if done else None,
        "errors": len(load.errors),
        "error_samples": load.errors[:5],
        "api_cpu_ms_per_request": round(1000 * api_cpu / done, 2) if done else None,
        "api_cores": round(api_cpu / load.elapsed_s, 2),
        "load_generator_cores": round(own_cpu / load.elapsed_s, 2),
        "machine_busy_cores": machine_cores,  # the rest is mostly PostgreSQL
    }


# --------------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?"
    )
    libs = ("argon2-cffi", "joserfc", "cryptography", "redis", "httpx", "uvloop")
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": {name: version(name) for name in libs},
        "event_loop": "uvloop",
    }


def print_report(result: dict[str, Any]) -> None:
    m, checks, pw = result["machine"], result["token_checks"], result["passwords"]
    print(f"\nmachine: {m['cpu_model']}, {m['cores']} cores, {m['python']}\ncommand: {result['command']}")
    print(f"\naccess-token checks, {checks['iterations']:,} iterations, µs      median      p95")
    for key, label in (
        ("validate", "(a) validate_access_token (ES256)"),
        ("validate_dpop_memory", "(b) + DPoP proof, replay guard in memory"),
        ("validate_dpop_redis", "(c) + DPoP proof, replay guard in Redis"),
        ("is_revoked_redis", "(d) is_revoked (one Redis MGET)"),
    ):
        print(f"  {label:<44}{checks[key]['median']:>8.1f} {checks[key]['p95']:>8.1f}")
    hashing, verify, together = pw["hash"], pw["verify"], pw["concurrent"]
    print(f"\nargon2id {pw['parameters']}, ms          median      p95")
    print(f"  hash{hashing['median']:>48.1f} {hashing['p95']:>8.1f}")
    print(f"  verify{verify['median']:>46.1f} {verify['p95']:>8.1f}")
    print(f"  hash_password, {together['tasks']} concurrent tasks: {together['hashes_per_s']} hashes/s")
    if ep := result.get("token_endpoint"):
        lat = ep["latency"] or {"median": 0.0, "p95": 0.0}
        print(
            f"\nPOST /oauth/token (refresh_token), {ep['clients']} clients, {ep['workers']} API worker(s), "
            f"{ep['duration_s']} s: {ep['rps']} req/s, p50 {lat['median']:.1f} ms, p95 {lat['p95']:.1f} ms, "
            f"errors {ep['errors']}\n  API CPU {ep['api_cpu_ms_per_request']} ms/request ({ep['api_cores']} "
            f"cores), load generator {ep['load_generator_cores']} cores, machine {ep['machine_busy_cores']} "
            f"of {m['cores']} cores busy"
        )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--iterations", type=int, default=20_000, help="token checks per variant")
    p.add_argument("--hashes", type=int, default=30, help="argon2 hashes and verifies, each")
    p.add_argument("--clients", type=int, default=16, help="concurrent refresh-token chains")
    p.add_argument("--workers", type=int, default=1, help="KEEL_API_WORKERS for keel serve")
    p.add_argument("--duration", type=float, default=15, help="seconds of measured load")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    p.add_argument("--quiet-wait", type=float, default=30, help="max seconds to wait for an idle machine")
    p.add_argument("--skip-endpoint", action="store_true", help="in-process figures only")
    return p.parse_args()


async def main(args: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "uv run --project backend --locked python " + shlex.join(sys.argv),
        "params": vars(args),
        "machine": machine(),
    }
    log(f"access-token checks: {args.iterations:,} iterations per variant")
    result["token_checks"] = await bench_token_checks(args.iterations, args.quiet_wait)
    log(f"argon2id: {args.hashes} hashes and verifies")
    result["passwords"] = await bench_passwords(args.hashes, args.quiet_wait)
    if not args.skip_endpoint:
        result["token_endpoint"] = await bench_token_endpoint(args)
    (RESULTS / "identity.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_report(result)
    print(f"\nwrote {RESULTS / 'identity.json'}")
    endpoint = result.get("token_endpoint")
    return 1 if endpoint and (endpoint["errors"] or not endpoint["requests"]) else 0


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(uvloop.run(main(parse_args())))
