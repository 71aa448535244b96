"""Rules of the codebase that keep the unit of work where it belongs."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

from keel.core.uow import UnitOfWorkRoute
from keel.main import API_PREFIX, create_app

KEEL = Path(__file__).resolve().parents[1] / "keel"


def test_every_api_route_runs_in_a_unit_of_work() -> None:
    contexts = [
        c for c in iter_route_contexts(create_app().router.routes) if c.path_format.startswith(API_PREFIX)
    ]
    routes = [c.original_route for c in contexts]
    assert len(routes) >= 6 and all(isinstance(r, APIRoute) for r in routes)
    outside = [c.path_format for c in contexts if not isinstance(c.original_route, UnitOfWorkRoute)]
    assert outside == []


def test_only_core_commits_or_rolls_back() -> None:
    # Services, repositories and endpoints never end a transaction; the edge (keel/core) does.
    ending = re.compile(r"\.(commit|rollback)\(")
    offenders = [
        f"{path.relative_to(KEEL)}:{number}"
        for path in KEEL.rglob("*.py")
        if path.parent.name != "core"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ending.search(line)
    ]
    assert offenders == []
