"""CRM deals: an amount in minor units and a currency, at a stage of a pipeline, owned like accounts;
every stage change kept.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import owned_table, ownership_columns, ownership_indexes, tenant_table

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A deal names its stage together with its pipeline, so the database holds that the stage is one of
    # that pipeline's.
    op.create_unique_constraint("uq_stages_org_id_pipeline_id_id", "stages", ["org_id", "pipeline_id", "id"])
    op.create_table(
        "deals",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("account_id", sa.Uuid, nullable=False),
        sa.Column("primary_contact_id", sa.Uuid),
        sa.Column("pipeline_id", sa.Uuid, nullable=False),
        sa.Column("stage_id", sa.Uuid, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expected_close_date", sa.Date),
        sa.Column("source", sa.String(50)),
        sa.Column("lost_reason", sa.String(500)),
        *ownership_columns("deals"),
        sa.Column("tags", pg.ARRAY(sa.String(50)), nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column(
            "stage_entered_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        # Keyed by organisation too: a foreign key ignores row-level security.
        sa.ForeignKeyConstraint(
            ["org_id", "account_id"], ["keel.accounts.org_id", "keel.accounts.id"], name="fk_deals_account"
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "pipeline_id", "stage_id"],
            ["keel.stages.org_id", "keel.stages.pipeline_id", "keel.stages.id"],
            name="fk_deals_stage",
        ),
        sa.UniqueConstraint("org_id", "id"),  # for foreign keys bound to the organisation
    )
    # A removed contact leaves the deal without a primary contact (only that column is cleared).
    op.execute(
        "ALTER TABLE keel.deals ADD CONSTRAINT fk_deals_primary_contact "
        "FOREIGN KEY (org_id, primary_contact_id) REFERENCES keel.contacts (org_id, id) "
        "ON DELETE SET NULL (primary_contact_id)"
    )
    op.create_index("ix_deals_org_id_created_at_id", "deals", ["org_id", "created_at", "id"])
    for statement in ownership_indexes("deals"):
        op.execute(statement)
    op.create_index("ix_deals_org_id_account_id", "deals", ["org_id", "account_id"])
    op.create_index("ix_deals_org_id_stage_id", "deals", ["org_id", "stage_id"])
    op.create_index("ix_deals_org_id_primary_contact_id", "deals", ["org_id", "primary_contact_id"])
    op.create_index("ix_deals_tags", "deals", ["tags"], postgresql_using="gin")
    for statement in owned_table("deals"):
        op.execute(statement)

    op.create_table(
        "deal_stage_changes",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("deal_id", sa.Uuid, nullable=False),
        # No foreign keys to stages: the history outlives a stage later removed from its pipeline.
        sa.Column("from_stage_id", sa.Uuid),
        sa.Column("to_stage_id", sa.Uuid, nullable=False),
        sa.Column("changed_by", sa.Uuid),  # the member; NULL for an API key or a job
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "deal_id"],
            ["keel.deals.org_id", "keel.deals.id"],
            ondelete="CASCADE",
            name="fk_deal_stage_changes_deal",
        ),
    )
    op.create_index(
        "ix_deal_stage_changes_org_id_deal_id_changed_at",
        "deal_stage_changes",
        ["org_id", "deal_id", "changed_at"],
    )
    # Append-only for the runtime role; a deal's history is seen by whoever sees the deal.
    for statement in tenant_table("deal_stage_changes", grants="SELECT, INSERT"):
        op.execute(statement)
    visible_deal = "EXISTS (SELECT 1 FROM keel.deals d WHERE d.id = deal_id)"
    op.execute(
        f"CREATE POLICY record_scope ON keel.deal_stage_changes AS RESTRICTIVE "
        f"USING ({visible_deal}) WITH CHECK ({visible_deal})"
    )


def downgrade() -> None:
    op.drop_table("deal_stage_changes")
    op.drop_table("deals")
    op.drop_constraint("uq_stages_org_id_pipeline_id_id", "stages")
