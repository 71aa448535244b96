"""Liveness, readiness and metrics: for load balancers and Prometheus, outside /api/v1."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from keel.core.errors import problem_response
from keel.core.metrics import render_metrics
from keel.core.uow import request_database

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

router = APIRouter(tags=["operations"])


def migration_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


_HEAD = migration_head()


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up. Says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> Response:
    """Ready for traffic: the database answers and its schema is at the migration head."""
    db = request_database(request)
    try:
        async with db.sessions() as session:
            version = await session.scalar(text("SELECT version_num FROM keel.alembic_version"))
    except Exception:
        return problem_response(503, detail="The database is not reachable.")
    if version != _HEAD:
        return problem_response(
            503, detail=f"The database schema is at {version}, this build expects {_HEAD}."
        )
    return Response('{"status":"ready"}', media_type="application/json")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    body, content_type = await render_metrics(request_database(request))
    return Response(body, media_type=content_type)
