"""Search across accounts, contacts and deals (full text plus trigram similarity, for misspelled names
and partial e-mail addresses), and saved views of list filters per member, shareable in the
organisation.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import CURRENT_USER, tenant_table

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# What each record is found by: its words (full text) and the text its trigram index compares.
SEARCHED = {
    "accounts": ("coalesce(name, '') || ' ' || coalesce(domain, '')", "name"),
    "contacts": (
        "coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '')",
        "(first_name || ' ' || last_name)",
    ),
    "deals": ("coalesce(name, '')", "name"),
}


def upgrade() -> None:
    # Trusted extensions, in their own schema so they add nothing to the application's.
    op.execute("CREATE SCHEMA IF NOT EXISTS extensions")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA extensions")
    op.execute("GRANT USAGE ON SCHEMA extensions TO keel_app, keel_platform, keel_definer")
    for table, (words, name) in SEARCHED.items():
        op.execute(
            f"ALTER TABLE keel.{table} ADD COLUMN search tsvector "
            f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {words})) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_org_id_search ON keel.{table} USING gin (org_id, search)")
        op.execute(
            f"CREATE INDEX ix_{table}_org_id_name_trgm ON keel.{table} "
            f"USING gin (org_id, {name} extensions.gin_trgm_ops)"
        )
    op.execute(
        "CREATE INDEX ix_contacts_org_id_email_trgm ON keel.contacts "
        "USING gin (org_id, email extensions.gin_trgm_ops)"
    )

    op.create_table(
        "saved_views",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("record_type", sa.String(8), nullable=False),
        sa.Column("filters", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "record_type IN ('account', 'contact', 'deal', 'lead', 'ticket', 'activity')", name="record_type"
        ),
        sa.CheckConstraint("jsonb_typeof(filters) = 'object'", name="filters_object"),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"],
            ["keel.memberships.org_id", "keel.memberships.user_id"],
            ondelete="CASCADE",
            name="fk_saved_views_user",
        ),
        sa.UniqueConstraint("org_id", "user_id", "name"),
    )
    op.create_index("ix_saved_views_org_id_shared", "saved_views", ["org_id", "shared"])
    for statement in tenant_table("saved_views"):
        op.execute(statement)
    # A member sees their own views and the shared ones; changes only their own.
    mine = f"user_id = {CURRENT_USER}"
    op.execute(
        f"CREATE POLICY record_scope ON keel.saved_views AS RESTRICTIVE FOR SELECT USING ({mine} OR shared)"
    )
    for command in ("INSERT", "UPDATE", "DELETE"):
        check = f"WITH CHECK ({mine})" if command == "INSERT" else f"USING ({mine})"
        if command == "UPDATE":
            check += f" WITH CHECK ({mine})"
        op.execute(
            f"CREATE POLICY record_scope_{command.lower()} ON keel.saved_views AS RESTRICTIVE "
            f"FOR {command} {check}"
        )


def downgrade() -> None:
    op.drop_table("saved_views")
    for table in SEARCHED:
        op.execute(f"ALTER TABLE keel.{table} DROP COLUMN search")
        op.execute(f"DROP INDEX IF EXISTS keel.ix_{table}_org_id_name_trgm")
    op.execute("DROP INDEX IF EXISTS keel.ix_contacts_org_id_email_trgm")
