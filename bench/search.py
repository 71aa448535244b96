"""Search bench: an organisation of 100,000 contacts, and searches at the CRM bench's size, through the API.

    uv run --project backend --locked python bench/search.py          # also run by `make bench`
    uv run --project backend --locked python bench/search.py --reuse  # keep the seeded database

Steps, unattended (about 4 minutes on the 2-core reference machine):
 1. drop + create the database `keel_bench_search` (or BENCH_SEARCH_DATABASE_URL's; its name must contain
    "bench"), migrate, and seed it as bench/crm.py does with 100 organisations of 1,000 contacts, then grow
    organisation 1 to 100,000 contacts (bench/search_seed.sql);
 2. start the API with `keel serve` (2 workers) and drive it with wrk, each request with its
    organisation's API key, with one connection (the latency of a search that does not queue; target
    p95 < 50 ms) and with 16 (CPU per search, the API's and PostgreSQL's: target <= 5 ms):
      - in the organisation of 100,000 contacts: a contact's full name, the name misspelled, the start
        of an e-mail address, a first name alone (as typed into the box: about 1,200 namesakes);
      - in the organisations of 1,000 contacts: the same kinds, mixed;
 3. check that a full or misspelled name finds its contact first (among namesakes: one of its name);
 4. print the figures against the targets and write bench/results/search.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault(
    "BENCH_CRM_DATABASE_URL",
    os.environ.get("BENCH_SEARCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/keel_bench_search"),
)
os.environ.setdefault("BENCH_CRM_REDIS_URL", "redis://127.0.0.1:6379/11")

import psycopg
from crm import (
    BENCH_DIR,
    DATABASE_URL,
    RESULTS,
    ApiProcess,
    BenchError,
    Scenario,
    data_profile,
    database_name,
    ensure_wrk,
    http_get,
    log,
    machine_info,
    measure,
    one,
    org_id,
    record_id,
    search_queries,
    shuffled,
    write_requests,
)

COMMAND = "uv run --project backend --locked python bench/search.py"
ORGS = 100
BIG_ORG = 1
BIG_ORG_CONTACTS = 100_000
TARGET_P95_MS = 50.0  # one client, in the organisation of 100,000 contacts
TARGET_CPU_MS = 5.0  # the API's and PostgreSQL's together, per search
KINDS = ("full_name", "misspelled_name", "partial_email", "first_name")


def big_org_queries(conn: psycopg.Connection[Any], count: int) -> dict[str, list[tuple[str, str]]]:
    """kind -> (query, the contact's full name) for `count` contacts spread over organisation 1."""
    out: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}
    for number in shuffled(range(1, BIG_ORG_CONTACTS + 1), "search-contacts")[:count]:
        first, last, email = one(
            conn,
            "SELECT first_name, last_name, email FROM keel.contacts WHERE id = %s",
            (record_id("contact", BIG_ORG, number),),
        )
        middle = len(last) // 2  # two letters of the last name swapped: "Garcia" -> "Gacria"
        misspelled = last[: middle - 1] + last[middle] + last[middle - 1] + last[middle + 1 :]
        name = f"{first} {last}"
        out["full_name"].append((name, name))
        out["misspelled_name"].append((f"{first} {misspelled}", name))
        out["partial_email"].append((email.split("@")[0][: len(first) + 4], name))
        out["first_name"].append((first, name))
    return out


def search_path(q: str) -> str:
    return "/api/v1/search?" + urllib.parse.urlencode({"q": q})


def check_answers(
    api: ApiProcess, key_base: str, queries: dict[str, list[tuple[str, str]]]
) -> dict[str, Any]:
    """A full name finds a contact of that name first, a misspelled one among the first 20 (of 1,000 or
    more contacts of that first name); every search answers 200."""
    failures = []
    for kind, within in (("full_name", 1), ("misspelled_name", 20)):
        for q, name in queries[kind][:50]:
            status, body, _ = http_get(
                api.url(search_path(q) + "&types=contact&limit=20"),
                {"Authorization": f"Bearer {key_base}{BIG_ORG:06d}"},
            )
            titles = [hit["title"] for hit in json.loads(body)] if status == 200 else []
            if name not in titles[:within]:
                failures.append({"q": q, "status": status, "first": titles[:3]})
    return {"checked": 100, "failures": failures}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=int, default=15, help="seconds of each run")
    p.add_argument("--port", type=int, default=8097)
    p.add_argument("--quiet-wait", type=float, default=10)
    p.add_argument("--reuse", action="store_true", help="keep the database seeded by the previous run")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    state_file = RESULTS / "search-state.json"
    report: dict[str, Any] = {
        "command": COMMAND,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database_name(),
        "params": vars(args),
    }
    if args.reuse and state_file.exists():
        key_base = json.loads(state_file.read_text())["key_base"]
        log("reusing the seeded database")
    else:
        from crm import seed

        key_base = "keel_sk_" + secrets.token_urlsafe(30)
        log(f"seeding {ORGS} organisations and one of {BIG_ORG_CONTACTS:,} contacts into {database_name()}")
        report["seed"] = seed(
            ORGS, key_base, [BENCH_DIR / "search_seed.sql"], search_contacts=str(BIG_ORG_CONTACTS)
        )
        state_file.write_text(json.dumps({"key_base": key_base}))
        state_file.chmod(0o600)
    report["machine"] = machine_info()
    report["data"] = data_profile()
    with psycopg.connect(DATABASE_URL) as conn:
        big = big_org_queries(conn, 300)
        small = {n: search_queries(conn, n) for n in range(2, ORGS + 1)}
        report["data"]["big_org_contacts"] = one(
            conn, "SELECT count(*) FROM keel.contacts WHERE org_id = %s", (org_id(BIG_ORG),)
        )[0]
    scenarios = [
        Scenario(
            f"100k_{kind}",
            "search",
            f"GET /api/v1/search?q=<{kind.replace('_', ' ')}>",
            [(BIG_ORG, search_path(q)) for q, _ in big[kind]],
        )
        for kind in KINDS
    ]
    scenarios.append(
        Scenario(
            "1k_mixed",
            "search",
            "GET /api/v1/search?q=<a full name, a misspelled name, a partial e-mail>",
            [(n, search_path(q)) for n in shuffled(list(small), "orgs") for q, _ in small[n].values()],
        )
    )
    api = ApiProcess(args.workers, max(4, args.connections // args.workers), args.port)
    report["scenarios"] = {}
    try:
        api.start()
        report["checks"] = check_answers(api, key_base, big)
        for s in scenarios:
            requests = write_requests(f"search_{s.name}", s.lines, key_base)
            measure(api, s, requests, args.connections, 3, args.quiet_wait)  # warm-up
            report["scenarios"][s.name] = {
                "describe": s.describe,
                "single": measure(api, s, requests, 1, args.duration, args.quiet_wait),
                "concurrent": measure(api, s, requests, args.connections, args.duration, args.quiet_wait),
            }
    finally:
        api.stop()
    (RESULTS / "search.json").write_text(json.dumps(report, indent=2))
    print_summary(report)
    failed = report["checks"]["failures"]
    for failure in failed:
        print(f"CHECK FAILED: {failure}")
    return 1 if failed else 0


def print_summary(report: dict[str, Any]) -> None:
    print("\n" + "=" * 120)
    print(
        f"Keel search bench: one organisation of {BIG_ORG_CONTACTS:,} contacts "
        f"({ORGS - 1} of 1,000 beside it), {report['params']['workers']} API workers"
    )
    print("=" * 120)
    print(
        f"{'scenario':<22}{'req/s 1':>9}{'p50 ms':>8}{'p95 ms':>8}{'p95 < 50':>10}"
        f"{'req/s c':>9}{'CPU ms: API':>13}{'PG':>8}{'sum <= 5':>10}"
    )
    for name, entry in report["scenarios"].items():
        one_client, many = entry["single"], entry["concurrent"]
        cpu = many["cpu_ms_per_request"]
        latency_met = one_client["latency_ms"]["p95"] < TARGET_P95_MS
        cpu_met = cpu["api"] + cpu["postgres"] <= TARGET_CPU_MS
        print(
            f"{name:<22}{one_client['rps']:>9.1f}{one_client['latency_ms']['p50']:>8.1f}"
            f"{one_client['latency_ms']['p95']:>8.1f}{'met' if latency_met else 'NOT met':>10}"
            f"{many['rps']:>9.1f}{cpu['api']:>13.2f}{cpu['postgres']:>8.2f}"
            f"{'met' if cpu_met else 'NOT met':>10}"
        )
    print("=" * 120)
    print(
        f"names found: {100 - len(report['checks']['failures'])} of 100; results: {RESULTS / 'search.json'}"
    )


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(2)
