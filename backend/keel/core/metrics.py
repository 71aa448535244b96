"""Prometheus metrics: requests by route template and status, DB pool use, jobs by queue and state."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from keel.core.db import Database

REQUESTS = Counter("keel_http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "keel_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
POOL_IN_USE = Gauge("keel_db_pool_connections_in_use", "Connections checked out.", ["pool"])
POOL_SIZE = Gauge("keel_db_pool_connections_open", "Connections open in the pool.", ["pool"])
JOBS = Gauge("keel_jobs", "Jobs by queue and state.", ["queue", "state"])

JOB_COUNTS = text(
    "SELECT queue_name, status::text, count(*) FROM procrastinate.procrastinate_jobs GROUP BY 1, 2"
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


async def render_metrics(db: Database) -> tuple[bytes, str]:
    pool = db.engine.pool
    if isinstance(pool, QueuePool):
        POOL_IN_USE.labels("app").set(pool.checkedout())
        POOL_SIZE.labels("app").set(pool.checkedin() + pool.checkedout())
    async with db.sessions() as session:
        rows = (await session.execute(JOB_COUNTS)).all()
    JOBS.clear()
    for queue, state, count in rows:
        JOBS.labels(queue, state).set(count)
    return generate_latest(), CONTENT_TYPE_LATEST
