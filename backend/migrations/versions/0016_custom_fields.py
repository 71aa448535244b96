"""Custom fields: per-organisation definitions (typed) for accounts, contacts, deals and leads, whose
values live in each record's `custom` JSONB, indexed for filtering.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import tenant_table

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RECORDS = ("accounts", "contacts", "deals", "leads")


def upgrade() -> None:
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("record_type", sa.String(8), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("options", pg.ARRAY(sa.String(100)), nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("record_type IN ('account', 'contact', 'deal', 'lead')", name="record_type"),
        sa.CheckConstraint("type IN ('text', 'number', 'date', 'boolean', 'select')", name="type"),
        sa.CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,39}$'", name="key_format"),
        sa.UniqueConstraint("org_id", "record_type", "key"),
    )
    for statement in tenant_table("custom_fields"):
        op.execute(statement)
    for table in RECORDS:
        op.add_column(
            table, sa.Column("custom", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
        )
        op.execute(
            f"ALTER TABLE keel.{table} ADD CONSTRAINT ck_{table}_custom_object "
            "CHECK (jsonb_typeof(custom) = 'object')"
        )
        # Containment filters (custom @> '{"tier": "gold"}') use it, together with the org_id indexes.
        op.execute(f"CREATE INDEX ix_{table}_custom ON keel.{table} USING gin (custom jsonb_path_ops)")


def downgrade() -> None:
    for table in RECORDS:
        op.drop_column(table, "custom")
    op.drop_table("custom_fields")
