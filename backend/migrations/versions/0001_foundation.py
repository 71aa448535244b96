"""Foundation: organisations, API keys, audit, idempotency keys, the job queue, and their policies.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import tenant_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID_PK = sa.text("gen_random_uuid()")


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    # The job queue lives in its own schema; its tables are global by design (see ADR 0003).
    op.execute("SET LOCAL search_path TO procrastinate")
    op.execute(files("procrastinate.sql").joinpath("schema.sql").read_text())
    op.execute("SET LOCAL search_path TO keel, procrastinate")
    op.execute("GRANT USAGE ON SCHEMA procrastinate TO keel_app")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA procrastinate TO keel_app")
    op.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA procrastinate TO keel_app")

    op.execute("GRANT USAGE ON SCHEMA keel TO keel_app, keel_platform, keel_definer")
    op.execute("GRANT SELECT ON keel.alembic_version TO keel_app")

    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("settings", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status in ('active', 'suspended')", name="status"),
        sa.CheckConstraint("slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'", name="slug_format"),
    )
    for statement in tenant_table("organizations", key="id", grants="SELECT, UPDATE"):
        op.execute(statement)
    # The platform role sees every organisation; no other role can reach this policy.
    op.execute(
        "CREATE POLICY platform_access ON keel.organizations TO keel_platform USING (true) WITH CHECK (true)"
    )
    op.execute("GRANT SELECT, INSERT, UPDATE ON keel.organizations TO keel_platform")

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("org_id", "secret_hash"),
    )
    op.create_index("ix_api_keys_org_id_created_at_id", "api_keys", ["org_id", "created_at", "id"])
    op.create_index("ix_api_keys_secret_hash", "api_keys", ["secret_hash"])
    for statement in tenant_table("api_keys", grants="SELECT, INSERT, UPDATE"):
        op.execute(statement)
    op.execute("GRANT SELECT, INSERT ON keel.api_keys TO keel_platform")

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("org_id", sa.Uuid, nullable=False),
        _created_at(),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("entity_type", sa.String(50), nullable=False),
        sa.Column("entity_id", sa.String(100)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("ip", pg.INET),
        sa.Column("user_agent", sa.Text),
        sa.Column("before", pg.JSONB),
        sa.Column("after", pg.JSONB),
    )
    op.create_index("ix_audit_events_org_id_created_at_id", "audit_events", ["org_id", "created_at", "id"])
    # Append-only for the runtime: it may add and read audit rows, never change or remove them.
    for statement in tenant_table("audit_events", grants="SELECT, INSERT"):
        op.execute(statement)
    op.execute("GRANT SELECT, INSERT ON keel.audit_events TO keel_platform")

    op.create_table(
        "platform_audit_events",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        _created_at(),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target_org_id", sa.Uuid),
        sa.Column("detail", pg.JSONB),
    )
    op.create_index("ix_platform_audit_events_created_at", "platform_audit_events", ["created_at"])
    op.execute("ALTER TABLE keel.platform_audit_events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE keel.platform_audit_events FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY platform_only ON keel.platform_audit_events TO keel_platform "
        "USING (true) WITH CHECK (true)"
    )
    op.execute("GRANT SELECT, INSERT ON keel.platform_audit_events TO keel_platform")

    op.create_table(
        "idempotency_keys",
        sa.Column("org_id", sa.Uuid, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.LargeBinary(32), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response_body", sa.LargeBinary),
        sa.Column("response_headers", pg.JSONB),
        _created_at(),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    for statement in tenant_table("idempotency_keys"):
        op.execute(statement)

    # SECURITY DEFINER functions: owned by keel_definer (BYPASSRLS, NOLOGIN, only these grants),
    # search_path pinned, each on the allowlist of the catalog test.
    op.execute("GRANT SELECT ON keel.api_keys, keel.organizations TO keel_definer")
    op.execute("GRANT SELECT, DELETE ON keel.idempotency_keys TO keel_definer")
    op.execute(
        """
        CREATE FUNCTION keel.authenticate_api_key(p_secret_hash bytea)
        RETURNS TABLE (org_id uuid, key_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            SELECT k.org_id, k.id
            FROM keel.api_keys k JOIN keel.organizations o ON o.id = k.org_id
            WHERE k.secret_hash = p_secret_hash AND k.revoked_at IS NULL AND o.status = 'active'
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION keel.purge_expired_idempotency_keys(p_older_than interval)
        RETURNS bigint
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            WITH gone AS (
                DELETE FROM keel.idempotency_keys WHERE created_at < now() - p_older_than RETURNING 1
            )
            SELECT count(*) FROM gone
        $$
        """
    )
    # Changing a function's owner needs CREATE on its schema; the definer holds it only for this.
    op.execute("GRANT CREATE ON SCHEMA keel TO keel_definer")
    for fn in ("authenticate_api_key(bytea)", "purge_expired_idempotency_keys(interval)"):
        op.execute(f"ALTER FUNCTION keel.{fn} OWNER TO keel_definer")
        op.execute(f"REVOKE ALL ON FUNCTION keel.{fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION keel.{fn} TO keel_app")
    op.execute("REVOKE CREATE ON SCHEMA keel FROM keel_definer")


def downgrade() -> None:
    op.execute("DROP FUNCTION keel.purge_expired_idempotency_keys(interval)")
    op.execute("DROP FUNCTION keel.authenticate_api_key(bytea)")
    for table in ("idempotency_keys", "platform_audit_events", "audit_events", "api_keys", "organizations"):
        op.drop_table(table)
    op.execute("DROP SCHEMA procrastinate CASCADE")
    op.execute("CREATE SCHEMA procrastinate")
