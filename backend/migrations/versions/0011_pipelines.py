"""Sales pipelines and their ordered stages, per organisation; every organisation starts with one.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keel.core.rls import tenant_table

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The pipeline every organisation starts with (keel/pipelines/service.py has the same list).
DEFAULT_STAGES = [
    ("Qualification", 10, "open"),
    ("Proposal", 40, "open"),
    ("Negotiation", 70, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
]


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("org_id", "name"),
        sa.UniqueConstraint("org_id", "id"),  # for foreign keys bound to the organisation
    )
    op.create_index(
        "uq_pipelines_one_default",
        "pipelines",
        ["org_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "stages",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, nullable=False),
        sa.Column("pipeline_id", sa.Uuid, nullable=False),
        # Keyed by organisation too: a foreign key ignores row-level security.
        sa.ForeignKeyConstraint(
            ["org_id", "pipeline_id"],
            ["keel.pipelines.org_id", "keel.pipelines.id"],
            ondelete="CASCADE",
            name="fk_stages_pipeline",
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.SmallInteger, nullable=False),
        sa.Column("probability", sa.SmallInteger, nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False, server_default="open"),
        sa.CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
        sa.CheckConstraint("outcome IN ('open', 'won', 'lost')", name="outcome"),
        sa.UniqueConstraint("org_id", "pipeline_id", "position"),
        sa.UniqueConstraint("org_id", "pipeline_id", "name"),
    )
    for table in ("pipelines", "stages"):
        for statement in tenant_table(table):
            op.execute(statement)
        op.execute(f"GRANT SELECT, INSERT ON keel.{table} TO keel_platform")  # onboarding seeds them
        op.execute(f"GRANT SELECT, INSERT ON keel.{table} TO keel_definer")
    # Organisations that exist already get the default pipeline too (as keel_definer: every tenant).
    op.execute("SET ROLE keel_definer")
    op.execute(
        "INSERT INTO keel.pipelines (org_id, name, is_default) "
        "SELECT id, 'Sales', true FROM keel.organizations"
    )
    for position, (name, probability, outcome) in enumerate(DEFAULT_STAGES, start=1):
        op.execute(
            "INSERT INTO keel.stages (org_id, pipeline_id, name, position, probability, outcome) "
            f"SELECT org_id, id, '{name}', {position}, {probability}, '{outcome}' FROM keel.pipelines"
        )
    op.execute("SET ROLE keel_owner")
    for table in ("pipelines", "stages"):
        op.execute(f"REVOKE SELECT, INSERT ON keel.{table} FROM keel_definer")


def downgrade() -> None:
    op.drop_table("stages")
    op.drop_table("pipelines")
