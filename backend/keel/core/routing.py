"""Route matching by path prefix: a request is matched against the routers that can serve it, not all.

The app's router tries its routes in order until one matches, and an included router is tried by
matching every route inside it, so a route near the end of the API paid for all the routers before it
(about 0.6 ms of regular expressions for the last of some 300 routes here). `index_routes` groups the
app's top-level routes by the first segments of the paths they serve (`/api/v1/contacts`); a request is
dispatched by the app router's own code over the routes of its group only (in their original order,
with every route whose first segments hold a parameter or that is a mount). When none of them matches,
the whole router answers as before: the 404, the 405 and the slash redirects are unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import Receive, Scope, Send

SEGMENTS = 4  # "", "api", "v1", "contacts"

Key = tuple[str, ...]


def path_key(path: str) -> Key:
    return tuple(path.split("/", SEGMENTS)[:SEGMENTS])


def _served_paths(route: BaseRoute) -> Iterable[str | None]:
    """The path templates a top-level route serves; None for one that is not a plain template."""
    if isinstance(route, Mount):
        return [None]
    contexts = getattr(route, "effective_route_contexts", None)  # an included router
    if contexts is not None:
        return [getattr(context, "path_format", None) for context in contexts()]
    return [getattr(route, "path_format", None)]


def _keys(route: BaseRoute) -> set[Key] | None:
    """The first segments of every path `route` may match; None when they vary (a parameter, a mount)."""
    keys = set()
    for template in _served_paths(route):
        if not isinstance(template, str):
            return None
        key = path_key(template)
        if any("{" in segment for segment in key):
            return None
        keys.add(key)
    return keys


class IndexedRouter:
    """Dispatches each request with the router's own code, over the routes that may match its path."""

    def __init__(self, router: Router) -> None:
        self.router = router
        keyed = [(route, _keys(route)) for route in router.routes]
        everywhere = [route for route, keys in keyed if keys is None]
        self.groups: dict[Key, Router] = {}
        for key in {key for _, keys in keyed for key in keys or ()}:
            group = [route for route, keys in keyed if keys is None or key in keys]
            self.groups[key] = self._view(group)
        self.other = self._view(everywhere)

    def _view(self, routes: list[BaseRoute]) -> Router:
        """The router with only `routes`; what none of them matches goes to the whole router."""
        view = copy.copy(self.router)
        view.routes = routes
        view.default = self.router.app
        return view

    def candidates(self, scope: Scope) -> list[BaseRoute]:
        """The routes that may match the request, in the router's order."""
        return self._group(scope).routes

    def _group(self, scope: Scope) -> Router:
        return self.groups.get(path_key(get_route_path(scope)), self.other)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router.app(scope, receive, send)
            return
        scope.setdefault("router", self.router)
        await self._group(scope).app(scope, receive, send)


def index_routes(router: Router) -> Any:
    """Install the index on `router` once every route is added (call it last when building the app)."""
    indexed = IndexedRouter(router)
    router.middleware_stack = indexed
    return indexed
