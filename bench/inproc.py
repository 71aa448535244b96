"""The API's own CPU per request, in-process: no network, no load generator, no other process.

    backend/.venv/bin/python bench/inproc.py [--requests N] [--rounds R] [--profile] [PATH ...]

Drives the ASGI app directly (as uvicorn would call it, minus HTTP parsing; the app built as `keel
serve` builds it) against the database that `bench/crm.py` seeded (`keel_bench_crm`, 1,000
organisations), one request after another, each with the next organisation's API key, and prints the
process CPU time per request for each path (after a warm-up): the median of --rounds rounds, and the
best, because the reference machine's speed drifts by up to half from minute to minute. With
`--profile` it also prints where that time goes (cProfile, the top functions by own time). Paths may
hold `{org}` (the organisation's number) and `{account}`, `{contact}`, `{deal}` (one of its records,
by the seed's numbering). Needs `bench/crm.py` to have run once (its state file).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

TARGET_CPU_MS = 1.5  # the API's CPU per list or record read (issue 13)
TARGET_WRITE_CPU_MS = 5.0  # per create or change, with its Idempotency-Key and audit row
DEFAULT_PATHS = [
    "/api/v1/audit-events?limit=50",
    "/api/v1/contacts?limit=50",
    "/api/v1/accounts?limit=50",
    "/api/v1/deals?limit=50",
    "/api/v1/leads?limit=50",
    "/api/v1/tickets?limit=50",
    "/api/v1/activities?limit=50",
    "/api/v1/contacts/{contact}",
    "/api/v1/accounts/{account}",
    "/api/v1/deals/{deal}",
]


def _environment(redis_url: str | None) -> None:
    from crm import DATABASE_URL

    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        KEEL_ENV="prod",
        KEEL_LOG_LEVEL="WARNING",
        KEEL_RATE_LIMIT="100000000/minute",
        KEEL_DB_POOL_SIZE="4",
    )
    ring = BENCH_DIR / "results" / "inproc-encryption-key.txt"  # signs members' tokens (git-ignored)
    if not ring.exists():
        from cryptography.fernet import Fernet

        ring.write_text(Fernet.generate_key().decode())
        ring.chmod(0o600)
    os.environ["KEEL_ENCRYPTION_KEYS"] = ring.read_text().strip()
    if redis_url:  # shared state and rate limits in Redis, as a deployment of several processes has them
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)


async def _call(
    app: Any,
    path: str,
    secret: str,
    method: str = "GET",
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, bytes, dict[bytes, bytes]]:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {secret}".encode()),
            *(headers or []),
            *([(b"content-type", b"application/json")] if body else []),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0
    answer = bytearray()
    answered: dict[bytes, bytes] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answered.update(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(answer), answered


class Workload:
    """What one measured request sends: `GET <path>`, or one of the writes (`POST /api/v1/contacts`: a
    new contact with an Idempotency-Key; `PATCH /api/v1/contacts/{contact}`: a change with If-Match,
    each organisation's contact changed in turn, its ETag carried from answer to answer)."""

    def __init__(self, spec: str) -> None:
        method, _, template = spec.rpartition(" ")
        self.method, self.template = method or "GET", template
        self.etags: dict[int, bytes] = {}
        self.count = 0
        if self.method != "GET" and spec not in ("POST /api/v1/contacts", "PATCH /api/v1/contacts/{contact}"):
            raise SystemExit(f"no body known for {spec!r}")

    async def send(self, app: Any, n: int, secret: str) -> tuple[int, bytes]:
        path, self.count = _fill(self.template, n), self.count + 1
        if self.method == "GET":
            status, body, _ = await _call(app, path, secret)
            return status, body
        headers = [(b"idempotency-key", uuid.uuid4().hex.encode())]
        if self.method == "POST":
            owner = _md5_user(n, ROLES["rep"][0])
            document = {"last_name": f"Bench {self.count}", "owner_id": owner, "tags": ["bench"]}
        else:
            if n not in self.etags:
                _, _, answered = await _call(app, path, secret)
                self.etags[n] = answered[b"etag"]
            headers.append((b"if-match", self.etags[n]))
            document = {"title": f"Title {self.count}"}
        status, body, answered = await _call(
            app, path, secret, self.method, json.dumps(document).encode(), headers
        )
        if b"etag" in answered:
            self.etags[n] = answered[b"etag"]
        return status, body


def _fill(path: str, n: int) -> str:
    from crm import org_id, record_id

    return (
        path.replace("{org}", org_id(n))
        .replace("{account}", record_id("account", n, 3))
        .replace("{contact}", record_id("contact", n, 3))
        .replace("{deal}", record_id("deal", n, 3))
    )


ROLES = {"admin": (1, "org_admin"), "manager": (2, "manager"), "rep": (3, "sales_rep")}


async def _credentials(caller: str, orgs: int, key_base: str) -> list[str]:
    """Each organisation's API key, or an access token of one of its members (signed by the platform's
    current key, as the token endpoint would sign it; the API checks it as any other)."""
    if caller == "key":
        return [f"{key_base}{n:06d}" for n in range(1, orgs + 1)]
    from crm import org_id, record_id

    from keel.core.config import get_settings
    from keel.core.keyring import get_key_ring
    from keel.identity.tokens import AccessToken, issue_access_token

    key = await _signing_key()
    assert key is not None
    settings, (number, role) = get_settings(), ROLES[caller]
    return [
        issue_access_token(
            AccessToken(
                subject=_md5_user(n, number),
                client_id="keel-web",
                org_id=org_id(n),
                roles=(role,),
                scope="api",
            ),
            signing_key=key,
            issuer=settings.issuer,
            audience=settings.api_audience,
        )
        for n in range(1, orgs + 1)
    ]


async def _signing_key() -> Any:
    """The platform's newest signing key (one made first when there is none)."""
    import psycopg
    from crm import DATABASE_URL
    from joserfc.jwk import ECKey

    from keel.core.keyring import get_key_ring
    from keel.core.platform import platform_unit_of_work
    from keel.identity.signing_keys import rotate_signing_key

    query = "SELECT private_jwk_encrypted FROM keel.signing_keys ORDER BY created_at DESC LIMIT 1"
    with psycopg.connect(DATABASE_URL) as conn:
        row = conn.execute(query).fetchone()
    if row is None:
        async with platform_unit_of_work("bench") as uow:
            await rotate_signing_key(uow, get_key_ring())
        return await _signing_key()
    return ECKey.import_key(json.loads(get_key_ring().decrypt(row[0])))


def _md5_user(n: int, number: int) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(f"keel-bench-user-{n}-{number}".encode()).hexdigest()))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per path: the median is reported")
    parser.add_argument("--warmup", type=int, default=1000, help="requests first (one per organisation)")
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument(
        "--caller", choices=["key", *ROLES], default="key", help="API key or a member's token"
    )
    parser.add_argument("--redis", metavar="URL", help="e.g. redis://127.0.0.1:6379/14 (flushed first)")
    args = parser.parse_args()
    _environment(args.redis)
    if args.redis:
        from redis import Redis

        Redis.from_url(args.redis).flushdb()
    from benchdb import statements_sent

    from keel.main import serving_app

    state = json.loads((BENCH_DIR / "results" / "crm-state.json").read_text())
    secrets = await _credentials(args.caller, args.orgs, state["key_base"])
    app = serving_app()  # as `keel serve` builds it in each worker: the import's objects frozen out of GC
    for path in args.paths:
        workload = Workload(path)
        for i in range(args.warmup):
            n = 1 + i % args.orgs
            status, body = await workload.send(app, n, secrets[n - 1])
            if status not in (200, 201):
                raise SystemExit(f"{path}: {status} {body[:300]!r}")
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        rounds, walls = [], []
        for _ in range(args.rounds):  # this host's speed drifts: the median of a few rounds, and the best
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(args.requests):
                n = 1 + i % args.orgs
                await workload.send(app, n, secrets[n - 1])
            rounds.append((time.process_time() - cpu) / args.requests * 1000)
            walls.append((time.perf_counter() - wall) / args.requests * 1000)
        if profiler:
            profiler.disable()
        per_request, best = statistics.median(rounds), min(rounds)
        target = TARGET_CPU_MS if workload.method == "GET" else TARGET_WRITE_CPU_MS
        verdict = "met" if per_request <= target else "NOT met"
        with statements_sent() as sent:
            await workload.send(app, 1, secrets[0])
        print(
            f"{path:48s} CPU {per_request:6.3f} ms/request, best {best:6.3f} (target <= {target} ms: "
            f"{verdict})  wall {statistics.median(walls):6.3f} ms  ({len(body):,} bytes)"
            f"  {len(sent)} statements{' (and BEGIN, COMMIT)' if sent else ''}"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    import uvloop  # the event loop `keel serve` runs on (uvicorn picks it when installed)

    uvloop.run(main())
