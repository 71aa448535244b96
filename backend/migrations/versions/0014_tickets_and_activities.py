"""CRM tickets (support requests) and activities (notes, calls, e-mails, meetings, tasks) on accounts,
contacts, deals and tickets.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import owned_table, ownership_columns, ownership_indexes

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def _link(table: str, column: str, target: str) -> None:
    """A link keyed by organisation too (a foreign key ignores row-level security); removing the target
    clears only this column."""
    op.execute(
        f"ALTER TABLE keel.{table} ADD CONSTRAINT fk_{table}_{column.removesuffix('_id')} "
        f"FOREIGN KEY (org_id, {column}) REFERENCES keel.{target} (org_id, id) ON DELETE SET NULL ({column})"
    )
    op.create_index(f"ix_{table}_org_id_{column}", table, ["org_id", column])


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("account_id", sa.Uuid),
        sa.Column("contact_id", sa.Uuid),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(8), nullable=False, server_default="open"),
        sa.Column("priority", sa.String(8), nullable=False, server_default="normal"),
        *ownership_columns("tickets"),
        sa.Column("tags", pg.ARRAY(sa.String(50)), nullable=False, server_default="{}"),
        sa.Column("first_response_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.CheckConstraint("status IN ('open', 'pending', 'solved', 'closed')", name="status"),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority"),
        sa.CheckConstraint("length(description) <= 20000", name="description_length"),
        sa.UniqueConstraint("org_id", "id"),  # for foreign keys bound to the organisation
    )
    for column, target in (("account_id", "accounts"), ("contact_id", "contacts")):
        _link("tickets", column, target)
    op.create_index("ix_tickets_org_id_created_at_id", "tickets", ["org_id", "created_at", "id"])
    op.create_index("ix_tickets_org_id_status", "tickets", ["org_id", "status"])
    for statement in ownership_indexes("tickets"):
        op.execute(statement)
    # Whoever sees the account sees its tickets (a rep, their customer's requests); only the scope writes.
    for statement in owned_table("tickets", seen_through=[("account_id", "accounts")]):
        op.execute(statement)

    op.create_table(
        "activities",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False, server_default=""),  # sanitised HTML
        sa.Column("account_id", sa.Uuid),
        sa.Column("contact_id", sa.Uuid),
        sa.Column("deal_id", sa.Uuid),
        sa.Column("ticket_id", sa.Uuid),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        *ownership_columns("activities"),
        *_timestamps(),
        sa.CheckConstraint("kind IN ('note', 'call', 'email', 'meeting', 'task')", name="kind"),
        sa.CheckConstraint("kind = 'task' OR (due_at IS NULL AND done_at IS NULL)", name="task_fields"),
        sa.CheckConstraint("length(body) <= 100000", name="body_length"),
    )
    links = (
        ("account_id", "accounts"),
        ("contact_id", "contacts"),
        ("deal_id", "deals"),
        ("ticket_id", "tickets"),
    )
    for column, target in links:
        _link("activities", column, target)
    op.create_index("ix_activities_org_id_created_at_id", "activities", ["org_id", "created_at", "id"])
    op.create_index(
        "ix_activities_org_id_assignee_id_open_tasks",
        "activities",
        ["org_id", "assignee_id", "due_at"],
        postgresql_where=sa.text("kind = 'task' AND done_at IS NULL"),
    )
    for statement in ownership_indexes("activities"):
        op.execute(statement)
    # An activity is read by whoever sees any record it is on; written only within the author's scope.
    for statement in owned_table("activities", seen_through=links):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("activities")
    op.drop_table("tickets")
