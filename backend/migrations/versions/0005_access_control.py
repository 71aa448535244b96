"""Access control: custom roles, teams, and the access version that invalidates cached permissions.

- `roles`: an organisation's own roles, each a named set of permissions and a record scope (own, team
  or all). Built-in roles live in code; a membership's role is a built-in key or one of these keys.
- `teams` and `team_members`: who a Manager's "team" is. `keel.team_user_ids()` lists everyone who
  shares a team with the transaction's user; owned-record policies (`keel.core.rls.owned_table`) read it.
- `organizations.access_version`: bumped with every role, membership or team change; the cached
  role → permission table of an organisation is keyed by it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import CURRENT_USER, tenant_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BUILT_IN = "('org_admin', 'manager', 'sales_rep', 'finance', 'support')"
ROLE_KEY = "'^[a-z][a-z0-9_]{1,31}$'"


def _ts(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.add_column(
        "organizations", sa.Column("access_version", sa.BigInteger, nullable=False, server_default="1")
    )
    op.create_table(
        "roles",
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("permissions", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("record_scope", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(f"key ~ {ROLE_KEY} AND key NOT IN {BUILT_IN}", name="key_format"),
        sa.CheckConstraint("record_scope IN ('own', 'team', 'all')", name="record_scope"),
    )
    for statement in tenant_table("roles"):
        op.execute(statement)
    # A membership or invitation names a built-in role or one of the organisation's own.
    for table in ("memberships", "invitations"):
        op.drop_constraint("role", table, type_="check")
        op.create_check_constraint("role", table, f"role ~ {ROLE_KEY}")
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("org_id", "name"),
        sa.UniqueConstraint("org_id", "id"),  # the target of the tenant-bound foreign keys below
    )
    for statement in tenant_table("teams"):
        op.execute(statement)
    op.create_table(
        "team_members",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("team_id", sa.Uuid, primary_key=True),
        # Keyed by organisation too: a foreign key ignores row-level security, so a bare team id could
        # name another organisation's team.
        sa.ForeignKeyConstraint(
            ["org_id", "team_id"],
            ["keel.teams.org_id", "keel.teams.id"],
            ondelete="CASCADE",
            name="fk_team_members_team",
        ),
        sa.Column("user_id", sa.Uuid, primary_key=True),
        _ts("created_at"),
        # Leaving the organisation leaves its teams.
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["keel.memberships.org_id", "keel.memberships.user_id"],
            ondelete="CASCADE",
            name="fk_team_members_membership",
        ),
    )
    op.create_index("ix_team_members_org_id_user_id", "team_members", ["org_id", "user_id"])
    for statement in tenant_table("team_members", grants="SELECT, INSERT, DELETE"):
        op.execute(statement)
    # Invoker's rights: it sees only the transaction's organisation, like any query.
    op.execute(
        f"""
        CREATE FUNCTION keel.team_user_ids() RETURNS uuid[]
        LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, keel AS $$
            SELECT coalesce(array_agg(DISTINCT m.user_id), '{{}}')
            FROM keel.team_members m
            WHERE m.team_id IN (SELECT t.team_id FROM keel.team_members t WHERE t.user_id = {CURRENT_USER})
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION keel.team_user_ids() FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION keel.team_user_ids() TO keel_app")


def downgrade() -> None:
    op.execute("DROP FUNCTION keel.team_user_ids()")
    op.drop_table("team_members")
    op.drop_table("teams")
    for table in ("memberships", "invitations"):
        op.drop_constraint("role", table, type_="check")
        op.create_check_constraint("role", table, f"role IN {BUILT_IN}")
    op.drop_table("roles")
    op.drop_column("organizations", "access_version")
