"""CRM accounts: the companies that are or may become customers, owned by a member.

The first owned record type: `owned_table` gives it the tenant policy and the record-scope policy, so a
Sales Rep reads and writes only the accounts they own or are assigned, a Manager their teams'.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import owned_table, ownership_columns, ownership_indexes

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(253)),
        sa.Column("industry", sa.String(100)),
        sa.Column("size", sa.String(16)),
        sa.Column("country", sa.String(2)),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="prospect"),
        *ownership_columns("accounts"),
        sa.Column("tags", pg.ARRAY(sa.String(50)), nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("lifecycle_stage IN ('prospect', 'customer', 'churned')", name="lifecycle_stage"),
        sa.CheckConstraint("domain = lower(domain)", name="domain_lower"),
        sa.UniqueConstraint("org_id", "id"),  # for foreign keys bound to the organisation
    )
    op.create_index("ix_accounts_org_id_created_at_id", "accounts", ["org_id", "created_at", "id"])
    for statement in ownership_indexes("accounts"):
        op.execute(statement)
    op.create_index("ix_accounts_org_id_domain", "accounts", ["org_id", "domain"])
    op.create_index("ix_accounts_tags", "accounts", ["tags"], postgresql_using="gin")
    for statement in owned_table("accounts"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("accounts")
