"""Assignment rules: per organisation, per record type, evaluated in order to choose the owner of a new
lead, account, contact or deal; each record keeps the rule that chose its owner.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import tenant_table

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

RECORDS = ("leads", "accounts", "contacts", "deals")


def upgrade() -> None:
    op.create_table(
        "assignment_rules",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("record_type", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        # Conditions, all of which must hold (none: every record).
        sa.Column("countries", pg.ARRAY(sa.String(2)), nullable=False, server_default="{}"),
        sa.Column("currency", sa.String(3)),
        sa.Column("min_amount_minor", sa.BigInteger),
        sa.Column("max_amount_minor", sa.BigInteger),
        # The owner it gives: one member, or the members of a team in turn.
        sa.Column("member_id", sa.Uuid),  # not "owner_id": the rule is no one's record
        sa.Column("team_id", sa.Uuid),
        sa.Column("last_user_id", sa.Uuid),  # whose turn it was last, for round-robin
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("record_type IN ('lead', 'account', 'contact', 'deal')", name="record_type"),
        sa.CheckConstraint("(member_id IS NULL) <> (team_id IS NULL)", name="one_target"),
        sa.CheckConstraint(
            "(min_amount_minor IS NULL AND max_amount_minor IS NULL) "
            "OR (record_type = 'deal' AND currency IS NOT NULL)",
            name="amount_band",
        ),
        sa.CheckConstraint("min_amount_minor <= max_amount_minor", name="band_order"),
        # Keyed by organisation too: a foreign key ignores row-level security.
        sa.ForeignKeyConstraint(
            ["org_id", "member_id"],
            ["keel.memberships.org_id", "keel.memberships.user_id"],
            name="fk_assignment_rules_member",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "team_id"], ["keel.teams.org_id", "keel.teams.id"], name="fk_assignment_rules_team"
        ),
        sa.UniqueConstraint("org_id", "id"),
    )
    op.create_index(
        "ix_assignment_rules_org_id_record_type_position",
        "assignment_rules",
        ["org_id", "record_type", "position"],
    )
    op.create_index("ix_assignment_rules_org_id_member_id", "assignment_rules", ["org_id", "member_id"])
    op.create_index("ix_assignment_rules_org_id_team_id", "assignment_rules", ["org_id", "team_id"])
    for statement in tenant_table("assignment_rules"):
        op.execute(statement)
    for table in RECORDS:
        op.add_column(table, sa.Column("assignment_rule_id", sa.Uuid))
        op.execute(
            f"ALTER TABLE keel.{table} ADD CONSTRAINT fk_{table}_assignment_rule "
            f"FOREIGN KEY (org_id, assignment_rule_id) REFERENCES keel.assignment_rules (org_id, id) "
            f"ON DELETE SET NULL (assignment_rule_id)"
        )
        op.create_index(f"ix_{table}_org_id_assignment_rule_id", table, ["org_id", "assignment_rule_id"])


def downgrade() -> None:
    for table in RECORDS:
        op.drop_column(table, "assignment_rule_id")
    op.drop_table("assignment_rules")
