"""The database catalog itself proves tenant isolation is complete.

A new table without a forced policy, a view that runs with its owner's rights, an unreviewed SECURITY
DEFINER function or a readable materialized view fails here before it can leak anything.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.conftest import DatabaseUnderTest

APP_SCHEMAS = ("keel",)

# Tables without an org_id column, each with the reason it is safe.
GLOBAL_TABLES = {
    "alembic_version": "migration bookkeeping; the runtime role may only read it (readiness check)",
    "organizations": "the tenant itself: its policy keys on id instead of org_id",
    "platform_audit_events": "platform actions; policy grants only keel_platform, keel_app has no grant",
    "signing_keys": "authorization-server keys; keel_app may only read (private halves encrypted)",
    "oauth_clients": "the client registry; keel_app may only read, the platform registers clients",
    "users": "global identities; a transaction sees its own user, and the members of its organisation",
    "user_tokens": "a user's e-mailed links; only that user's transaction sees them",
    "login_sessions": "a user's browser sessions; only that user's transaction sees them",
    "security_events": "a user's sign-in and account events; only that user's transaction reads them, "
    "and only the definer function appends",
}
# Global tables the runtime role may read (one SELECT-only policy, no write grant).
RUNTIME_READABLE = {"signing_keys", "oauth_clients"}
# Global tables of per-user rows: the exact user policy (and, for users, the member-visibility one).
USER_TABLES = {
    "users": "id",
    "user_tokens": "user_id",
    "login_sessions": "user_id",
    "security_events": "user_id",
}
USER_POLICY = (
    r"^\({key} = \( SELECT \(NULLIF\(current_setting\('app\.user_id'::text, true\), "
    r"""''::text\)\)::uuid AS "nullif"\)\)$"""
)
MEMBER_VISIBILITY = "(EXISTS ( SELECT 1\n   FROM keel.memberships m\n  WHERE (m.user_id = users.id)))"
# Tables that may have RLS off, with the reason.
NO_RLS_TABLES = {"alembic_version": "holds one version string, nothing about any tenant"}

# SECURITY DEFINER functions that may exist: each must pin its search_path.
DEFINER_FUNCTIONS = {
    "authenticate_api_key": "finds the organisation of an API key before any tenant is known",
    "purge_expired_idempotency_keys": "housekeeping across organisations, deletes expired rows only",
    "login_candidate": "finds an enabled user by e-mail at sign-in, before any user is known",
    "my_organizations": "lists the organisations of the transaction's own user (the org picker)",
    "purge_spent_credentials": "housekeeping: deletes credentials a day after they stopped working",
    "reset_member_mfa": "an Org Admin clears a member's second factor; only members of the current org",
    "record_security_event": "appends a user's security event (before any user is known, at sign-in)",
    "audit_chain": "the audit trigger: moves the chain head of the row's organisation and category",
    **{
        f"search_{table}": (
            f"finds the {table} matching a search through their indexes, in the transaction's "
            "organisation and the user's record scope; the caller joins them back under the policies"
        )
        for table in ("accounts", "contacts", "deals")
    },
    "oauth_credential_org": (
        "finds the organisation of an authorization code or refresh token by its hash, before any "
        "tenant is known"
    ),
}

# The whole expression, exactly: nothing may be OR-ed onto it.
TENANT_POLICY = re.compile(
    r"""^\((org_id|id) = \( SELECT \(NULLIF\(current_setting\('app\.org_id'::text, true\), """
    r"""''::text\)\)::uuid AS "nullif"\)\)$"""
)


@pytest.fixture
def admin(test_database: DatabaseUnderTest):  # type: ignore[no-untyped-def]
    with psycopg.connect(test_database.admin_conninfo()) as conn:
        yield conn


def _tables(admin: psycopg.Connection) -> list[tuple[str, bool, bool]]:
    return admin.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        [list(APP_SCHEMAS)],
    ).fetchall()


def test_partitions_are_reachable_only_through_their_policied_parent(admin: psycopg.Connection) -> None:
    # A partition has no policies of its own: a runtime role that could name it would skip the parent's.
    partitions = admin.execute(
        "SELECT c.relname, has_table_privilege('keel_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE'), "
        "has_table_privilege('keel_platform', c.oid, 'SELECT, INSERT, UPDATE, DELETE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relispartition",
        [list(APP_SCHEMAS)],
    ).fetchall()
    assert any(name.startswith("audit_events_") for name, *_ in partitions)  # the check sees them
    assert [(name, app, platform) for name, app, platform in partitions if app or platform] == []


def test_every_table_has_row_level_security_enabled_and_forced(admin: psycopg.Connection) -> None:
    tables = _tables(admin)
    assert len(tables) >= 5
    unprotected = [
        name for name, enabled, forced in tables if not (enabled and forced) and name not in NO_RLS_TABLES
    ]
    assert unprotected == []


def test_every_tenant_table_has_a_tenant_policy_for_reads_and_writes(admin: psycopg.Connection) -> None:
    for name, *_ in _tables(admin):
        if name in NO_RLS_TABLES:
            continue
        policies = admin.execute(
            "SELECT policyname, roles::text[], cmd, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'keel' AND tablename = %s",
            [name],
        ).fetchall()
        assert policies, f"{name} has RLS but no policy: nothing can read it"
        if name in USER_TABLES:
            _assert_user_policies(name, policies)
            continue
        if name in GLOBAL_TABLES and name != "organizations":
            for policy_name, roles, cmd, *_ in policies:
                reads = name in RUNTIME_READABLE and roles == ["keel_app"] and cmd == "SELECT"
                assert roles == ["keel_platform"] or reads, (name, policy_name)
            continue
        tenant = [p for p in policies if p[0] == "tenant_isolation"]
        assert tenant, f"{name} lacks the tenant_isolation policy"
        _, roles, cmd, qual, with_check = tenant[0]
        assert roles == ["public"] and cmd == "ALL", name
        assert TENANT_POLICY.match(qual) and TENANT_POLICY.match(with_check), (name, qual, with_check)
        assert (TENANT_POLICY.match(qual).group(1) == "id") == (name == "organizations"), name
        others = [p for p in policies if p[0] != "tenant_isolation" and not p[0].startswith("record_scope")]
        assert all(roles == ["keel_platform"] for _, roles, *_ in others), (name, others)
        # Owned records (keel.core.rls.owned_table) add scope policies: restrictive, so they only narrow.
        scoped = admin.execute(
            "SELECT permissive FROM pg_policies WHERE schemaname = 'keel' AND tablename = %s "
            "AND policyname LIKE 'record\\_scope%%'",
            [name],
        ).fetchall()
        assert all(row[0] == "RESTRICTIVE" for row in scoped), name


def _assert_user_policies(name: str, policies: list[tuple[str, list[str], str, str, str]]) -> None:
    expected = re.compile(USER_POLICY.format(key=USER_TABLES[name]))
    by_name = {p[0]: p for p in policies}
    _, roles, cmd, qual, with_check = by_name.pop("user_self")
    assert roles == ["public"] and cmd == "ALL", name
    assert expected.match(qual) and expected.match(with_check), (name, qual, with_check)
    if name == "users":
        _, roles, cmd, qual, with_check = by_name.pop("org_members")
        assert (roles, cmd, qual, with_check) == (["public"], "SELECT", MEMBER_VISIBILITY, None)
    if name in ("users", "security_events"):
        _, roles, *_ = by_name.pop("platform_access")
        assert roles == ["keel_platform"]
    assert by_name == {}, (name, by_name)


def test_every_table_without_org_id_is_on_the_allowlist(admin: psycopg.Connection) -> None:
    without = admin.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'keel' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT EXISTS ("
        "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id'"
        "  AND NOT a.attisdropped)"
    ).fetchall()
    assert {r[0] for r in without} <= set(GLOBAL_TABLES)


def test_every_tenant_table_has_an_index_led_by_org_id(admin: psycopg.Connection) -> None:
    missing = admin.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' "
        "WHERE n.nspname = 'keel' AND c.relkind IN ('r', 'p') AND NOT EXISTS ("
        "  SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum)"
    ).fetchall()
    assert missing == []


def test_every_unique_constraint_on_a_tenant_table_includes_org_id(admin: psycopg.Connection) -> None:
    offenders = admin.execute(
        "SELECT c.relname, i.indexrelid::regclass::text FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' "
        "WHERE n.nspname = 'keel' AND i.indisunique AND NOT (a.attnum = ANY(i.indkey)) "
        "AND NOT (i.indisprimary AND i.indnatts = 1 AND EXISTS ("
        "  SELECT 1 FROM pg_attribute pk WHERE pk.attrelid = c.oid AND pk.attnum = i.indkey[0]"
        "  AND pk.attname = 'id' AND pk.atttypid = 'uuid'::regtype))"
    ).fetchall()
    # A random UUID primary key reveals nothing; any other unique key must be scoped to the tenant.
    assert offenders == []


def test_every_view_runs_with_the_callers_rights(admin: psycopg.Connection) -> None:
    definer_views = admin.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind = 'v' "
        "AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)",
        [list(APP_SCHEMAS)],
    ).fetchall()
    assert definer_views == []


def test_no_materialized_view_is_readable_by_the_runtime_role(admin: psycopg.Connection) -> None:
    readable = admin.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'm' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND has_table_privilege('keel_app', c.oid, 'SELECT')"
    ).fetchall()
    assert readable == []


def test_security_definer_functions_are_allowlisted_and_pin_search_path(
    admin: psycopg.Connection,
) -> None:
    rows = admin.execute(
        "SELECT p.proname, p.proconfig, pg_get_userbyid(p.proowner) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    assert {name for name, *_ in rows} == set(DEFINER_FUNCTIONS)
    for name, config, owner in rows:
        assert any(setting.startswith("search_path=pg_catalog") for setting in config or []), name
        assert owner == "keel_definer", name


def test_definer_functions_cannot_be_called_by_public(admin: psycopg.Connection) -> None:
    for name in DEFINER_FUNCTIONS:
        callable_by_platform = admin.execute(
            "SELECT has_function_privilege('keel_platform', p.oid, 'EXECUTE') FROM pg_proc p "
            "WHERE p.proname = %s",
            [name],
        ).fetchone()
        assert callable_by_platform == (False,), name


def test_runtime_roles_cannot_bypass_rls_or_own_anything(admin: psycopg.Connection) -> None:
    for role in ("keel_app", "keel_platform"):
        row = admin.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            [role],
        ).fetchone()
        assert row == (False, False, False, False), role
        owned = admin.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            [role],
        ).fetchone()
        assert owned == (0,), role
