"""CSV imports of accounts, contacts and deals: the batch (its file, mapping, progress, per-row errors),
the ledger of what each batch created or changed (so a whole batch can be rolled back), and external ids
to upsert by.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import tenant_table

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

RECORDS = ("accounts", "contacts", "deals", "leads")


def upgrade() -> None:
    for table in RECORDS:
        op.add_column(table, sa.Column("external_id", sa.String(100)))
        op.create_index(
            f"uq_{table}_org_id_external_id",
            table,
            ["org_id", "external_id"],
            unique=True,
            postgresql_where=sa.text("external_id IS NOT NULL"),
        )
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("record_type", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="queued"),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("upsert_by", sa.String(12)),
        sa.Column("mapping", pg.JSONB, nullable=False),
        sa.Column("content", sa.Text, nullable=False),  # the CSV as uploaded, UTF-8
        sa.Column("delimiter", sa.String(1), nullable=False),
        sa.Column("total_rows", sa.Integer, nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("errors", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("requested_by", sa.Uuid),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("record_type IN ('account', 'contact', 'deal')", name="record_type"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'rolled_back')", name="status"
        ),
        sa.UniqueConstraint("org_id", "id"),
    )
    op.create_index("ix_imports_org_id_created_at_id", "imports", ["org_id", "created_at", "id"])
    op.create_table(
        "import_changes",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("import_id", sa.Uuid, primary_key=True),
        sa.Column("record_id", sa.Uuid, primary_key=True),
        sa.Column("record_type", sa.String(8), nullable=False),  # a deal import also makes customers
        sa.Column("created", sa.Boolean, nullable=False),  # else updated: `before` holds the row as it was
        sa.Column("before", pg.JSONB),
        sa.ForeignKeyConstraint(
            ["org_id", "import_id"],
            ["keel.imports.org_id", "keel.imports.id"],
            ondelete="CASCADE",
            name="fk_import_changes_import",
        ),
    )
    for table in ("imports", "import_changes"):
        for statement in tenant_table(table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("import_changes")
    op.drop_table("imports")
    for table in RECORDS:
        op.drop_column(table, "external_id")
