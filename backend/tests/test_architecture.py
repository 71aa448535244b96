"""Rules of the codebase that keep the unit of work where it belongs."""

from __future__ import annotations

import ast
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


# Every query lives in a repository (or in keel/core, which is domain-free plumbing). Modules that still
# query elsewhere, each with why; an entry that no longer queries must go, so the list only shrinks.
QUERIES_ALLOWED = {
    "users/endpoints.py": "moves with the endpoint review",
    "identity/account_pages.py": "page routes: move with the endpoint review",
    "identity/login_pages.py": "page routes: move with the endpoint review",
    "identity/profile_pages.py": "page routes: move with the endpoint review",
    "identity/authorization_server.py": "Authlib's grant hooks: they query where Authlib calls them",
    "identity/oauth_objects.py": "Authlib's client and token objects, loaded where Authlib asks for them",
    "identity/accounts.py": "identity's queries, not yet in identity/repository.py",
    "identity/browser.py": "identity's queries, not yet in identity/repository.py",
    "identity/clients.py": "identity's queries, not yet in identity/repository.py",
    "identity/service.py": "identity's queries, not yet in identity/repository.py",
    "identity/signing_keys.py": "identity's queries, not yet in identity/repository.py",
    "identity/tasks.py": "identity's queries, not yet in identity/repository.py",
    "audit/retention.py": "partition DDL, run by the owner on a connection of its own: no tenant query",
    "audit/service.py": "the hash chain's verification SQL, not yet in audit/repository.py",
    "audit/security.py": "the security trail's writes and verification, not yet in audit/repository.py",
    "audit/compliance.py": "the compliance export's reads, not yet in audit/repository.py",
    "organizations/policy.py": "the per-request policy and access version, not yet in its repository",
    "demo.py": "the demo seed's own fixture writes",
}
STATEMENTS = frozenset({"select", "insert", "update", "delete", "text"})
SESSION_CALLS = frozenset({"execute", "scalar", "scalars", "get", "get_one", "stream", "stream_scalars"})
SESSIONS = frozenset({"session", "db", "conn"})


def _may_query(module: Path) -> bool:
    relative = module.relative_to(KEEL)
    return module.name == "repository.py" or relative.parts[0] in ("core", "models", "migrations")


def _queries(tree: ast.Module) -> list[tuple[int, str]]:
    """Each statement built with SQLAlchemy (by whatever name it was imported) and each query a
    session-like receiver runs: (line, what)."""
    from_sqlalchemy: dict[str, str] = {}  # local name → name in SQLAlchemy (a function or a module)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            from_sqlalchemy |= {alias.asname or alias.name: alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            from_sqlalchemy |= {
                alias.asname or alias.name: "sqlalchemy"
                for alias in node.names
                if alias.name.split(".")[0] == "sqlalchemy"
            }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        if isinstance(called, ast.Name) and from_sqlalchemy.get(called.id) in STATEMENTS:
            found.append((node.lineno, f"{from_sqlalchemy[called.id]}("))
        elif isinstance(called, ast.Attribute):
            receiver = called.value
            if (
                called.attr in STATEMENTS
                and isinstance(receiver, ast.Name)
                and receiver.id in from_sqlalchemy
            ):
                found.append((node.lineno, f"{receiver.id}.{called.attr}("))
            elif called.attr in SESSION_CALLS and (
                (isinstance(receiver, ast.Name) and receiver.id in SESSIONS)
                or (isinstance(receiver, ast.Attribute) and receiver.attr in SESSIONS)
            ):
                found.append((node.lineno, f"{ast.unparse(receiver)}.{called.attr}("))
    return sorted(found)


def test_every_query_lives_in_a_repository() -> None:
    querying = {
        str(path.relative_to(KEEL)): queries
        for path in sorted(KEEL.rglob("*.py"))
        if not _may_query(path) and (queries := _queries(ast.parse(path.read_text(), str(path))))
    }
    offenders = [
        f"{module}:{line} {what}"
        for module, queries in querying.items()
        if module not in QUERIES_ALLOWED
        for line, what in queries
    ]
    assert offenders == []
    assert sorted(set(QUERIES_ALLOWED) - set(querying)) == []  # allowed, but no longer queries


def test_the_query_check_sees_every_form_of_a_query() -> None:
    source = """
import sqlalchemy as sa
from sqlalchemy import select as pick, text
from sqlalchemy.dialects.postgresql import insert

async def f(uow, session, db, conn, cache, values):
    pick(A)
    sa.update(A)
    insert(A)
    text("SELECT 1")
    await uow.session.execute(q)
    await session.scalar(q)
    await db.get(A, 1)
    await conn.scalars(q)
    values.update(a=1)
    await cache.get("key")
    await cache.delete("key")
"""
    assert [what for _, what in _queries(ast.parse(source))] == [
        "select(",
        "sa.update(",
        "insert(",
        "text(",
        "uow.session.execute(",
        "session.scalar(",
        "db.get(",
        "conn.scalars(",
    ]
