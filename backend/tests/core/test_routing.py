"""The route index answers every request with the route Starlette's own ordered walk would choose, and
leaves 404, 405 and the slash redirect as they were."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match

from keel.core.routing import IndexedRouter
from keel.main import create_app

PARAMETER = re.compile(r"\{([^}:]+)(:[^}]+)?\}")


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _linear(routes: list[BaseRoute], scope: dict[str, object]) -> BaseRoute | None:
    return next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)


def _paths(template: str) -> list[str]:
    """The template with its parameters filled in a few ways (ids, words that are also route names)."""
    fills = [str(uuid.uuid4()), "export", "summary", "1"]
    return [PARAMETER.sub(fill, template) for fill in fills]


@pytest.fixture(scope="module")
def application() -> FastAPI:
    return create_app()


def test_every_route_is_found_as_the_ordered_walk_finds_it(application: FastAPI) -> None:
    routes = application.router.routes
    index = application.router.middleware_stack
    assert isinstance(index, IndexedRouter)
    checked = 0
    for top in routes:
        contexts = getattr(top, "effective_route_contexts", None)
        for route in contexts() if contexts else [top]:
            for method in getattr(route, "methods", None) or {"GET"}:
                for path in _paths(route.path_format):
                    scope = _scope(method, path)
                    assert _linear(index.candidates(scope), scope) is _linear(routes, scope), (method, path)
                    checked += 1
    assert checked > 300
    # The point of it: a list near the end of the API tries one or two routers, not all of them.
    contacts = _scope("GET", "/api/v1/contacts")
    assert len(index.candidates(contacts)) <= 2 < len(routes)


async def test_unknown_paths_wrong_methods_and_slashes_answer_as_before(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong_method = await client.put("/api/v1/contacts")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["allow"] and "POST" in wrong_method.headers["allow"]
    slash = await client.get("/api/v1/contacts/", follow_redirects=False)
    assert slash.status_code == 307
    assert slash.headers["location"].endswith("/api/v1/contacts")
