"""Signing keys of the authorization server: readable by the runtime, written only by the platform.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("public_jwk", pg.JSONB, nullable=False),
        sa.Column("private_jwk_encrypted", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("verify_until", sa.DateTime(timezone=True)),
    )
    op.execute("ALTER TABLE keel.signing_keys ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE keel.signing_keys FORCE ROW LEVEL SECURITY")
    # The API signs and verifies tokens (private keys stay encrypted with the key ring); only the
    # platform path creates and retires keys.
    op.execute("CREATE POLICY runtime_read ON keel.signing_keys FOR SELECT TO keel_app USING (true)")
    op.execute(
        "CREATE POLICY platform_access ON keel.signing_keys TO keel_platform USING (true) WITH CHECK (true)"
    )
    op.execute("GRANT SELECT ON keel.signing_keys TO keel_app")
    op.execute("GRANT SELECT, INSERT, UPDATE ON keel.signing_keys TO keel_platform")


def downgrade() -> None:
    op.drop_table("signing_keys")
