"""The API application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from keel.core.config import Settings, get_settings
from keel.core.db import Database, runtime_database
from keel.core.docs import install_api_docs
from keel.core.errors import PROBLEM_RESPONSES, install_error_handlers
from keel.core.logging import configure_logging
from keel.core.middleware import RequestContextMiddleware
from keel.core.openapi import install_openapi
from keel.core.ops import router as ops_router
from keel.core.principal import install_authenticator
from keel.core.routing import index_routes
from keel.identity.dependencies import authenticate_request
from keel.registry import API_V1_ROUTERS, ROOT_ROUTERS, load_task_modules

API_PREFIX = "/api/v1"


def operation_id(route: APIRoute) -> str:
    """Stable operation ids: the handler's name, which reads as the business action."""
    return route.name


def serving_app() -> FastAPI:
    """The app as `keel serve` runs it in each worker process. What the import left behind (modules,
    routes, models: hundreds of thousands of objects) is frozen out of the garbage collector, and young
    collections run less often: otherwise every full collection walks all of it, pausing requests for
    100-300 ms on a small host (docs/performance.md, "CRM at 1,000 organisations")."""
    app = create_app()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return app


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    load_task_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await (app.state.db or runtime_database()).dispose()

    app = FastAPI(
        title="Keel API",
        version="1.0.0",
        summary="Multi-tenant CRM + ERP.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served by install_api_docs, from Keel's own files
        redoc_url=None,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    app.state.db = db  # None: the runtime pool, opened on first request
    install_authenticator(app, authenticate_request)
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
        larger_bodies={f"{API_PREFIX}/imports": settings.max_import_body_bytes},
    )

    for router in API_V1_ROUTERS:  # each on its own, so the route index can tell them apart
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for router in ROOT_ROUTERS:
        app.include_router(router)
    app.include_router(ops_router)
    install_openapi(app)
    install_api_docs(app)
    index_routes(app.router)  # last: every route is in place
    return app
