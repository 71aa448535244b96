"""The API's own CPU per request, in-process: no network, no load generator, no other process.

    backend/.venv/bin/python bench/inproc.py [--requests N] [--profile] [PATH ...]

Drives the ASGI app directly (as uvicorn would call it, minus HTTP parsing) against the database that
`bench/crm.py` seeded (`keel_bench_crm`, 1,000 organisations), one request after another, each with the
next organisation's API key, and prints the process CPU time per request for each path (after a
warm-up). With `--profile` it also prints where that time goes (cProfile, the top functions by own
time). Paths may hold `{org}` (the organisation's number) and `{account}`, `{contact}`, `{deal}` (one
of its records, by the seed's numbering). Needs `bench/crm.py` to have run once (its state file).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

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


def _environment() -> None:
    from crm import DATABASE_URL

    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        KEEL_ENV="prod",
        KEEL_LOG_LEVEL="WARNING",
        KEEL_RATE_LIMIT="100000000/minute",
        KEEL_DB_POOL_SIZE="4",
    )
    os.environ.pop("REDIS_URL", None)


async def _call(app: Any, path: str, secret: str) -> tuple[int, bytes]:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {secret}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)


def _fill(path: str, n: int) -> str:
    from crm import org_id, record_id

    return (
        path.replace("{org}", org_id(n))
        .replace("{account}", record_id("account", n, 3))
        .replace("{contact}", record_id("contact", n, 3))
        .replace("{deal}", record_id("deal", n, 3))
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    parser.add_argument(
        "--requests", type=int, default=2000, help="measured requests per path"
    )
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    _environment()
    from keel.main import create_app

    state = json.loads((BENCH_DIR / "results" / "crm-state.json").read_text())
    key_base = state["key_base"]
    app = create_app()
    for path in args.paths:
        for i in range(args.warmup):
            n = 1 + i % args.orgs
            status, body = await _call(app, _fill(path, n), f"{key_base}{n:06d}")
            if status != 200:
                raise SystemExit(f"{path}: {status} {body[:300]!r}")
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for i in range(args.requests):
            n = 1 + i % args.orgs
            await _call(app, _fill(path, n), f"{key_base}{n:06d}")
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{path:48s} CPU {cpu / args.requests * 1000:6.3f} ms/request"
            f"  wall {wall / args.requests * 1000:6.3f} ms  ({len(body):,} bytes)"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    asyncio.run(main())
