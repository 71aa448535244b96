"""CRM leads: unqualified interest, owned like accounts; converted once into an account, a contact and a
deal, which the lead keeps links to.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import owned_table, ownership_columns, ownership_indexes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

STATUSES = ("new", "working", "qualified", "disqualified", "converted")


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("company", sa.String(200)),
        sa.Column("title", sa.String(100)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(20)),  # E.164
        sa.Column("country", sa.String(2)),
        sa.Column("source", sa.String(50)),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("disqualified_reason", sa.String(500)),
        *ownership_columns("leads"),
        sa.Column("tags", pg.ARRAY(sa.String(50)), nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True)),
        sa.Column("converted_by", sa.Uuid),  # the member; NULL for an API key
        sa.Column("account_id", sa.Uuid),
        sa.Column("contact_id", sa.Uuid),
        sa.Column("deal_id", sa.Uuid),
        sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
        sa.CheckConstraint("email = lower(email)", name="email_lower"),
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
        sa.CheckConstraint("(status = 'converted') = (converted_at IS NOT NULL)", name="converted_at"),
        sa.CheckConstraint(
            "(status = 'disqualified') = (disqualified_reason IS NOT NULL)", name="disqualified_reason"
        ),
        sa.UniqueConstraint("org_id", "id"),  # for foreign keys bound to the organisation
    )
    # What the lead became. Keyed by organisation (a foreign key ignores row-level security); a record
    # removed later leaves the lead converted, without that link.
    for column, table in (("account_id", "accounts"), ("contact_id", "contacts"), ("deal_id", "deals")):
        op.execute(
            f"ALTER TABLE keel.leads ADD CONSTRAINT fk_leads_{column.removesuffix('_id')} "
            f"FOREIGN KEY (org_id, {column}) REFERENCES keel.{table} (org_id, id) "
            f"ON DELETE SET NULL ({column})"
        )
        op.create_index(f"ix_leads_org_id_{column}", "leads", ["org_id", column])
    op.create_index("ix_leads_org_id_created_at_id", "leads", ["org_id", "created_at", "id"])
    op.create_index("ix_leads_org_id_status", "leads", ["org_id", "status"])
    op.create_index("ix_leads_org_id_email", "leads", ["org_id", "email"])
    op.create_index("ix_leads_tags", "leads", ["tags"], postgresql_using="gin")
    for statement in ownership_indexes("leads"):
        op.execute(statement)
    for statement in owned_table("leads"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("leads")
