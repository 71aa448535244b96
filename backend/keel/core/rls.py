"""SQL for tenant isolation, used by migrations so every table gets the same policy.

A missing tenant context makes `current_org_id` NULL, which matches no row: the policy fails closed.
The sub-select makes PostgreSQL evaluate the setting once per query (an InitPlan), so the org_id
index is used as an index condition.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from keel.core.db import APP_ROLE

CURRENT_ORG = "(select nullif(current_setting('app.org_id', true), '')::uuid)"


def tenant_table(
    table: str, *, key: str = "org_id", grants: str = "SELECT, INSERT, UPDATE, DELETE"
) -> list[str]:
    """Enable and force RLS on `table`, add the tenant policy, and grant the runtime role `grants`."""
    return [
        f"ALTER TABLE keel.{table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE keel.{table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON keel.{table} "
        f"USING ({key} = {CURRENT_ORG}) WITH CHECK ({key} = {CURRENT_ORG})",
        f"GRANT {grants} ON keel.{table} TO {APP_ROLE}",
    ]


CURRENT_USER = "(select nullif(current_setting('app.user_id', true), '')::uuid)"


def user_table(table: str, *, key: str = "user_id", grants: str = "SELECT, INSERT, UPDATE") -> list[str]:
    """A global table of per-user rows: the transaction's user (`app.user_id`) sees only its own."""
    return [
        f"ALTER TABLE keel.{table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE keel.{table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY user_self ON keel.{table} "
        f"USING ({key} = {CURRENT_USER}) WITH CHECK ({key} = {CURRENT_USER})",
        f"GRANT {grants} ON keel.{table} TO {APP_ROLE}",
    ]


CURRENT_SCOPE = "(select current_setting('app.scope', true))"


# Everyone who shares a team with the transaction's user: under the tenant policy of team_members.
TEAM_OF_USER = "(select keel.team_user_ids())::uuid[]"
# The same people for a definer function, which no policy restricts: the organisation named explicitly.
TEAM_OF_USER_IN_ORG = (
    "(SELECT coalesce(array_agg(m.user_id), '{}') FROM keel.team_members m "
    f"WHERE m.org_id = {CURRENT_ORG} AND m.team_id IN (SELECT t.team_id FROM keel.team_members t "
    f"WHERE t.org_id = {CURRENT_ORG} AND t.user_id = {CURRENT_USER}))::uuid[]"
)


def visible_to_scope(
    owner: str = "owner_id", assignee: str | None = "assignee_id", *, team_of_user: str = TEAM_OF_USER
) -> str:
    """Whether the transaction's user may see a row owned by `owner` (or assigned to `assignee`).

    `app.scope` is `all` (every row of the organisation), `team` (rows whose owner or assignee shares
    a team with the user) or `own`. Anything else, or nothing, leaves only the user's own rows: a
    transaction that forgot its scope sees less, never more.
    """
    people = [owner] + ([assignee] if assignee else [])
    own = " OR ".join(f"{column} = {CURRENT_USER}" for column in people)
    team = " OR ".join(f"{column} = ANY ({team_of_user})" for column in people)
    return f"({CURRENT_SCOPE} = 'all' OR {own} OR ({CURRENT_SCOPE} = 'team' AND ({team})))"


def owned_table(
    table: str,
    *,
    owner: str = "owner_id",
    assignee: str | None = "assignee_id",
    grants: str = "SELECT, INSERT, UPDATE, DELETE",
    seen_through: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """A tenant table of owned records: the tenant policy, and a restrictive policy on top that keeps
    each user to the records their scope allows, for reading and for writing alike.

    `seen_through` names (column, table) links to other owned records: a row is also *readable* by whoever
    can see a record it is linked to (a note on an account the user sees), never writable through it.
    """
    visible = visible_to_scope(owner, assignee)
    policy = f"CREATE POLICY {{name}} ON keel.{table} AS RESTRICTIVE"
    if not seen_through:
        return [
            *tenant_table(table, grants=grants),
            f"{policy.format(name='record_scope')} USING ({visible}) WITH CHECK ({visible})",
        ]
    readable = " OR ".join(
        [visible]
        + [
            f"({column} IS NOT NULL AND EXISTS (SELECT 1 FROM keel.{other} o WHERE o.id = {column}))"
            for column, other in seen_through
        ]
    )
    return [
        *tenant_table(table, grants=grants),
        f"{policy.format(name='record_scope')} FOR SELECT USING ({readable})",
        f"{policy.format(name='record_scope_insert')} FOR INSERT WITH CHECK ({visible})",
        f"{policy.format(name='record_scope_update')} FOR UPDATE USING ({visible}) WITH CHECK ({visible})",
        f"{policy.format(name='record_scope_delete')} FOR DELETE USING ({visible})",
    ]


def ownership_columns(table: str) -> list[sa.Column | sa.ForeignKeyConstraint]:  # type: ignore[type-arg]
    """`owner_id` and `assignee_id` for an owned table: both members of the row's organisation (so a
    member holding records cannot leave before handing them over)."""
    return [
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("assignee_id", sa.Uuid),
        *(
            sa.ForeignKeyConstraint(
                ["org_id", column],
                ["keel.memberships.org_id", "keel.memberships.user_id"],
                name=f"fk_{table}_{column.removesuffix('_id')}",
            )
            for column in ("owner_id", "assignee_id")
        ),
    ]


def ownership_indexes(table: str) -> list[str]:
    return [
        f"CREATE INDEX ix_{table}_org_id_{column} ON keel.{table} (org_id, {column})"
        for column in ("owner_id", "assignee_id")
    ]
