"""Compliance exports: a zip of the audit trail, the members and the permission matrix, with a manifest
of SHA-256 hashes, built by a job and kept for the organisation to download.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import tenant_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_exports",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("manifest", pg.JSONB),
        sa.Column("archive", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name="status"),
    )
    op.create_index(
        "ix_compliance_exports_org_id_created_at_id", "compliance_exports", ["org_id", "created_at", "id"]
    )
    for statement in tenant_table("compliance_exports", grants="SELECT, INSERT, UPDATE"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("compliance_exports")
