"""CRM contacts: people, owned by a member, linked to zero or more accounts (one of them primary).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import owned_table, ownership_columns, ownership_indexes, tenant_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(100)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(20)),  # E.164
        *ownership_columns("contacts"),
        sa.Column("tags", pg.ARRAY(sa.String(50)), nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("email = lower(email)", name="email_lower"),
        sa.UniqueConstraint("org_id", "id"),  # for foreign keys bound to the organisation
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
    )
    op.create_index("ix_contacts_org_id_created_at_id", "contacts", ["org_id", "created_at", "id"])
    for statement in ownership_indexes("contacts"):
        op.execute(statement)
    op.create_index("ix_contacts_org_id_email", "contacts", ["org_id", "email"])
    for statement in owned_table("contacts"):
        op.execute(statement)

    op.create_table(
        "contact_accounts",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("contact_id", sa.Uuid, primary_key=True),
        sa.Column("account_id", sa.Uuid, primary_key=True),
        # Keyed by organisation too: a foreign key ignores row-level security.
        sa.ForeignKeyConstraint(
            ["org_id", "contact_id"],
            ["keel.contacts.org_id", "keel.contacts.id"],
            ondelete="CASCADE",
            name="fk_contact_accounts_contact",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "account_id"],
            ["keel.accounts.org_id", "keel.accounts.id"],
            ondelete="CASCADE",
            name="fk_contact_accounts_account",
        ),
        sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_contact_accounts_org_id_account_id", "contact_accounts", ["org_id", "account_id"])
    op.create_index(
        "uq_contact_accounts_one_primary",
        "contact_accounts",
        ["org_id", "contact_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )
    for statement in tenant_table("contact_accounts", grants="SELECT, INSERT, UPDATE, DELETE"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("contact_accounts")
    op.drop_table("contacts")
