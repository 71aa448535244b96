"""Indexes for the orders CRM lists offer besides newest first: each walks one organisation's rows in
the order asked, ties broken by id, so a sorted page reads `limit` rows, not the organisation's all.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# table -> {index suffix: key expression}
SORT_KEYS = {
    "accounts": {"name": "lower(name)", "updated_at": "updated_at"},
    "contacts": {"last_name": "lower(last_name)", "updated_at": "updated_at"},
    "deals": {
        "name": "lower(name)",
        "expected_close_date": "expected_close_date",
        "updated_at": "updated_at",
    },
    "leads": {"updated_at": "updated_at"},
    "tickets": {"updated_at": "updated_at"},
    "activities": {"occurred_at": "occurred_at", "due_at": "due_at"},
}


def upgrade() -> None:
    for table, keys in SORT_KEYS.items():
        for suffix, key in keys.items():
            op.execute(f"CREATE INDEX ix_{table}_org_id_{suffix}_id ON keel.{table} (org_id, {key}, id)")


def downgrade() -> None:
    for table, keys in SORT_KEYS.items():
        for suffix in keys:
            op.execute(f"DROP INDEX IF EXISTS keel.ix_{table}_org_id_{suffix}_id")
