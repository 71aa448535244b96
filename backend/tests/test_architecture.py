"""Rules of the codebase: the unit of work at the edge, queries in repositories, rules in services, and
the layers the domains stand in."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp
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
    "audit/retention.py": (
        "partition maintenance: DDL and the chain anchors, run as the owner on a synchronous connection "
        "of its own, across every organisation and outside any unit of work"
    ),
    "demo.py": (
        "the demo seed, in the composition root: whether the web client and the members exist yet, the "
        "default pipeline's stages, and the plan's past dates written over what the services recorded"
    ),
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


# The layers (pyproject.toml's import contracts name the fixed ones). Every other package of keel is a
# business domain, found here, so a new one is held to the rule without editing a list.
COMPOSITION_ROOT = frozenset({"main", "cli", "registry", "demo", "demo_data", "__main__"})
PLATFORM = ("identity", "audit", "organizations", "access")
FOUNDATION = ("core", "models")


def _business_domains(graph: grimp.ImportGraph) -> list[str]:
    top = {module.split(".")[1] for module in graph.modules if module.count(".") >= 1}
    return sorted(top - COMPOSITION_ROOT - set(PLATFORM) - set(FOUNDATION))


def test_business_domains_sit_between_the_composition_root_and_the_platform() -> None:
    graph = grimp.build_graph("keel")
    business = _business_domains(graph)
    assert {"accounts", "deals", "onboarding", "users"} <= set(business)
    upward = [
        f"keel.{low} -> keel.{domain}"
        for low in (*PLATFORM, *FOUNDATION)
        for domain in business
        if graph.chain_exists(importer=f"keel.{low}", imported=f"keel.{domain}", as_packages=True)
    ]
    into_the_root = [
        f"keel.{domain} -> keel.{root}"
        for domain in business
        for root in COMPOSITION_ROOT
        if f"keel.{root}" in graph.modules
        and graph.chain_exists(importer=f"keel.{domain}", imported=f"keel.{root}", as_packages=True)
    ]
    assert upward == [] and into_the_root == []


# An endpoint speaks HTTP: it reads the request, calls the service (or a repository for a plain read)
# and shapes the answer. Business refusals (403, 409, 422…), audit rows, limits and changes to records
# belong to services. 400 (a malformed request) and 404 may be said at the edge.
EDGE_STATUSES = frozenset({400, 404})
RULE_CALLS = frozenset({"record_event", "get_rate_limiter", "enter_tenant", "whole_organisation"})
SESSION_WRITES = frozenset({"add", "add_all", "delete", "flush", "merge"})
# What an endpoint may set: its response, and the body a replay of an idempotent request returns.
EDGE_ATTRIBUTES = ("response", "uow.replay_body")


def _rules_in(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            if isinstance(call.func, ast.Name) and call.func.id == "Problem" and call.args:
                status = call.args[0]
                if not (isinstance(status, ast.Constant) and status.value in EDGE_STATUSES):
                    found.append((node.lineno, f"Problem({ast.unparse(status)})"))
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in RULE_CALLS:
                found.append((node.lineno, f"{name}()"))
            if name in SESSION_WRITES and "session" in ast.unparse(node.func):
                found.append((node.lineno, ast.unparse(node.func)))
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and not ast.unparse(target).startswith(EDGE_ATTRIBUTES):
                    found.append((node.lineno, f"{ast.unparse(target)} ="))
    return sorted(found)


def test_endpoint_modules_hold_no_business_rule() -> None:
    modules = sorted(KEEL.glob("*/endpoints.py"))
    assert len(modules) >= 15
    rules = [
        f"{module.relative_to(KEEL)}:{line}: {what}"
        for module in modules
        for line, what in _rules_in(ast.parse(module.read_text()))
    ]
    assert rules == []


def test_the_rule_check_sees_each_kind_of_rule() -> None:
    source = """
async def f(uow, response, record):
    raise Problem(404, "no such thing")
    raise Problem(400, "malformed")
    raise Problem(409, "taken")
    raise Problem(status, "whatever")
    await record_event(uow, "x", entity_type="y")
    await get_rate_limiter().hit("k", l)
    uow.session.add(record)
    await uow.session.flush()
    record.name = "changed"
    response.headers["ETag"] = "x"
    response.status_code = 200
    uow.replay_body = b"{}"
"""
    assert [what for _, what in _rules_in(ast.parse(source))] == [
        "Problem(409)",
        "Problem(status)",
        "record_event()",
        "get_rate_limiter()",
        "uow.session.add",
        "uow.session.flush",
        "record.name =",
    ]


# A use case that changes records of two domains is a flow (`flows.py`): lead conversion, merges, a won
# deal making its account a customer, an activity answering a ticket, onboarding. A service keeps to its
# own domain; it may apply the rules every record type shares: choosing an owner (assignment) and
# checking custom field values (customfields).
SHARED_RULES = frozenset({"keel.assignment.service", "keel.customfields.service"})


def test_services_leave_use_cases_across_domains_to_flows() -> None:
    graph = grimp.build_graph("keel")
    business = set(_business_domains(graph))
    crossing = sorted(
        f"{importer} -> {imported}"
        for importer in graph.modules
        if importer.endswith(".service") and importer.split(".")[1] in business
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.endswith(".service")
        and imported.split(".")[1] != importer.split(".")[1]
        and imported.split(".")[1] in business
        and imported not in SHARED_RULES
    )
    assert crossing == []
    flows = {module.split(".")[1] for module in graph.modules if module.endswith(".flows")}
    assert {"accounts", "activities", "contacts", "deals", "leads", "onboarding"} <= flows
