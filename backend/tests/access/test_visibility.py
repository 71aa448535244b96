"""Record scope, proven: for random owners, assignees, teams and viewers, every read path of every owned
record type shows a viewer exactly what their role's scope allows, and writes cannot step outside it.

The owned record types register in `tests/access/visibility.py`. The practice table below is built with
the same policy helper (`owned_table`) the domains' migrations use, so the helper and the harness are
proven here even for a record type that has no API yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors

import tests.access.record_types  # noqa: F401 - registers the owned record types
from keel.access.permissions import ROLE_PERMISSIONS, ROLE_SCOPES
from keel.core.cache import get_shared_state
from keel.core.config import get_settings
from keel.core.db import runtime_database
from keel.core.keyring import get_key_ring
from keel.core.ratelimit import get_rate_limiter
from keel.core.rls import owned_table
from keel.core.uow import job_unit_of_work
from keel.identity.signing_keys import current_signing_key
from keel.identity.tokens import AccessToken, issue_access_token
from tests.access.visibility import REGISTRY, OwnedRecordType, Viewer, expected, visible_in_the_database
from tests.conftest import Org
from tests.identity.conftest import authorization_server, bearer

__all__ = ["authorization_server"]  # fixtures used here

PRACTICE = "owned_practice_records"
CAST_ROLES = ("sales_rep", "sales_rep", "sales_rep", "manager", "manager", "org_admin", "support")


@dataclass(frozen=True)
class Cast:
    org: Org
    people: list[tuple[UUID, str]]  # (user id, role)
    teams: list[UUID]


def _seed_practice(conn: psycopg.Connection, org_id: UUID, owner: UUID, assignee: UUID | None) -> str:
    row = conn.execute(
        f"INSERT INTO keel.{PRACTICE} (org_id, owner_id, assignee_id) VALUES (%s, %s, %s) RETURNING id::text",
        [org_id, owner, assignee],
    ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def practice(admin: psycopg.Connection) -> Iterator[OwnedRecordType]:
    """A table of owned records made the way every domain makes one."""
    admin.execute(
        f"CREATE TABLE keel.{PRACTICE} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), org_id uuid NOT NULL, "
        "owner_id uuid NOT NULL, assignee_id uuid, title text NOT NULL DEFAULT '')"
    )
    try:
        for statement in owned_table(PRACTICE):
            admin.execute(statement)
        yield OwnedRecordType("practice record", PRACTICE, _seed_practice)
    finally:
        admin.execute(f"DROP TABLE keel.{PRACTICE}")


@pytest.fixture
def cast(admin: psycopg.Connection, org_a: Org) -> Cast:
    people = []
    for n, role in enumerate(CAST_ROLES):
        row = admin.execute(
            "INSERT INTO keel.users (email) VALUES (%s) RETURNING id", [f"cast{n}@example.com"]
        ).fetchone()
        assert row is not None
        admin.execute(
            "INSERT INTO keel.memberships (org_id, user_id, role) VALUES (%s, %s, %s)",
            [org_a.id, row[0], role],
        )
        people.append((row[0], role))
    teams = []
    for name in ("North", "South"):
        row = admin.execute(
            "INSERT INTO keel.teams (org_id, name) VALUES (%s, %s) RETURNING id", [org_a.id, name]
        ).fetchone()
        assert row is not None
        teams.append(row[0])
    return Cast(org_a, people, teams)


@st.composite
def worlds(draw: st.DrawFn, size: int) -> tuple[list[list[bool]], list[tuple[int, int | None]], int]:
    """Who is in which of the two teams, who owns and is assigned what, and who looks."""
    membership = draw(st.lists(st.lists(st.booleans(), min_size=2, max_size=2), min_size=size, max_size=size))
    person = st.integers(0, size - 1)
    records = draw(st.lists(st.tuples(person, st.none() | person), min_size=1, max_size=10))
    return membership, records, draw(person)


def _every_owned_table(admin: psycopg.Connection) -> dict[str, bool]:
    """Tables with an `owner_id` → whether they carry the restrictive record-scope policy."""
    rows = admin.execute(
        "SELECT c.relname, EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'keel' "
        "AND p.tablename = c.relname AND p.policyname = 'record_scope' AND p.permissive = 'RESTRICTIVE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'owner_id' AND NOT a.attisdropped "
        "WHERE n.nspname = 'keel' AND c.relkind IN ('r', 'p')"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def test_every_owned_table_has_the_scope_policy_and_is_registered(
    admin: psycopg.Connection, practice: OwnedRecordType
) -> None:
    owned = _every_owned_table(admin)
    assert owned[PRACTICE] is True  # the check sees a table made with the helper
    unguarded = [table for table, guarded in owned.items() if not guarded]
    assert unguarded == [], "create owned tables with keel.core.rls.owned_table"
    unregistered = sorted(set(owned) - set(REGISTRY) - {PRACTICE})
    assert unregistered == [], "register every owned record type in tests/access/visibility.py"


@pytest.fixture
async def tokens(authorization_server: None, cast: Cast) -> dict[UUID, dict[str, str]]:
    """An access token per member of the cast, as the authorization server would issue it."""
    settings = get_settings()
    async with job_unit_of_work(runtime_database(), None) as uow:
        key = await current_signing_key(uow.session, get_key_ring())
    assert key is not None
    return {
        user_id: bearer(
            issue_access_token(
                AccessToken(
                    subject=str(user_id), client_id="test-web", org_id=str(cast.org.id), roles=(role,)
                ),
                signing_key=key,
                issuer=settings.issuer,
                audience=settings.api_audience,
            )
        )
        for user_id, role in cast.people
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds(len(CAST_ROLES)))
async def test_a_viewer_sees_exactly_what_their_scope_allows_on_every_path(
    admin: psycopg.Connection,
    runtime: psycopg.Connection,
    cast: Cast,
    practice: OwnedRecordType,
    tokens: dict[UUID, dict[str, str]],
    client: httpx.AsyncClient,
    world: tuple[list[list[bool]], list[tuple[int, int | None]], int],
) -> None:
    membership, drawn, looking = world
    # Each drawn world reads every path afresh, well past a minute's limits.
    get_shared_state.cache_clear()
    get_rate_limiter.cache_clear()
    ids = [user_id for user_id, _ in cast.people]
    admin.execute("DELETE FROM keel.team_members")
    teams: dict[str, set[UUID]] = {str(t): set() for t in cast.teams}
    for person, in_teams in zip(ids, membership, strict=True):
        for team, member in zip(cast.teams, in_teams, strict=True):
            if member:
                admin.execute(
                    "INSERT INTO keel.team_members (org_id, team_id, user_id) VALUES (%s, %s, %s)",
                    [cast.org.id, team, person],
                )
                teams[str(team)].add(person)
    user_id, role = cast.people[looking]
    viewer = Viewer(cast.org.id, user_id, ROLE_SCOPES[role], headers=tokens[user_id], client=client)
    record_types = (practice, *REGISTRY.values())
    for record_type in reversed(record_types):  # later types may refer to earlier ones (deals to accounts)
        admin.execute(f"DELETE FROM keel.{record_type.table}")
    for record_type in record_types:
        records = {}
        for owner, assignee in drawn:
            owner_id, assignee_id = ids[owner], ids[assignee] if assignee is not None else None
            records[record_type.seed(admin, cast.org.id, owner_id, assignee_id)] = (owner_id, assignee_id)
        allowed = expected(viewer, records, teams)
        if role == "sales_rep":
            assert all(user_id in pair for rid, pair in records.items() if rid in allowed)
        assert visible_in_the_database(runtime, record_type.table, viewer) == allowed, record_type.name
        if record_type.read_permission not in (None, *ROLE_PERMISSIONS[role]):
            allowed = set()  # the API refuses this viewer the record type altogether
        for path, read in record_type.paths.items():
            assert await read(viewer, set(records)) == allowed, f"{record_type.name}: {path}"


def _as(runtime: psycopg.Connection, org: Org, user_id: UUID, scope: str) -> None:
    runtime.execute(
        "SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s, true), "
        "set_config('app.scope', %s, true)",
        [str(org.id), str(user_id), scope],
    )


def test_a_sales_rep_cannot_write_outside_their_own_records(
    admin: psycopg.Connection, runtime: psycopg.Connection, cast: Cast, practice: OwnedRecordType
) -> None:
    (rep, _), (other, _) = cast.people[0], cast.people[1]
    theirs = _seed_practice(admin, cast.org.id, other, None)
    mine = _seed_practice(admin, cast.org.id, rep, None)
    _as(runtime, cast.org, rep, "own")
    with pytest.raises(errors.InsufficientPrivilege):  # creating a record for another rep
        runtime.execute(
            f"INSERT INTO keel.{PRACTICE} (org_id, owner_id) VALUES (%s, %s)", [cast.org.id, other]
        )
    runtime.rollback()
    _as(runtime, cast.org, rep, "own")
    changed = runtime.execute(f"UPDATE keel.{PRACTICE} SET title = 'mine now' WHERE id = %s", [theirs])
    assert changed.rowcount == 0
    deleted = runtime.execute(f"DELETE FROM keel.{PRACTICE} WHERE id = %s", [theirs])
    assert deleted.rowcount == 0
    with pytest.raises(errors.InsufficientPrivilege):  # handing their own record to someone else
        runtime.execute(f"UPDATE keel.{PRACTICE} SET owner_id = %s WHERE id = %s", [other, mine])
    runtime.rollback()
    row = admin.execute(f"SELECT title FROM keel.{PRACTICE} WHERE id = %s", [theirs]).fetchone()
    assert row == ("",)


def test_a_manager_reassigns_within_their_team_only(
    admin: psycopg.Connection, runtime: psycopg.Connection, cast: Cast, practice: OwnedRecordType
) -> None:
    (rep, _), (teammate, _), (outsider, _), (manager, _) = cast.people[:4]
    north = cast.teams[0]
    for person in (rep, teammate, manager):
        admin.execute(
            "INSERT INTO keel.team_members (org_id, team_id, user_id) VALUES (%s, %s, %s)",
            [cast.org.id, north, person],
        )
    record = _seed_practice(admin, cast.org.id, rep, None)
    _as(runtime, cast.org, manager, "team")
    moved = runtime.execute(f"UPDATE keel.{PRACTICE} SET owner_id = %s WHERE id = %s", [teammate, record])
    assert moved.rowcount == 1
    with pytest.raises(errors.InsufficientPrivilege):
        runtime.execute(f"UPDATE keel.{PRACTICE} SET owner_id = %s WHERE id = %s", [outsider, record])
    runtime.rollback()


@pytest.mark.parametrize("setting", [None, "", "everything", "ALL"])
def test_a_transaction_without_a_known_scope_sees_only_the_users_own_records(
    admin: psycopg.Connection,
    runtime: psycopg.Connection,
    cast: Cast,
    practice: OwnedRecordType,
    setting: str | None,
) -> None:
    (rep, _), (other, _) = cast.people[0], cast.people[1]
    mine = _seed_practice(admin, cast.org.id, rep, None)
    _seed_practice(admin, cast.org.id, other, rep)
    _seed_practice(admin, cast.org.id, other, None)
    runtime.execute(
        "SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s, true)",
        [str(cast.org.id), str(rep)],
    )
    if setting is not None:
        runtime.execute("SELECT set_config('app.scope', %s, true)", [setting])
    seen = runtime.execute(f"SELECT owner_id FROM keel.{PRACTICE}").fetchall()
    assert sorted(str(r[0]) for r in seen) == sorted([str(rep), str(other)])  # own + assigned
    assert mine
    runtime.rollback()
