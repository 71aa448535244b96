"""Audit trail by month and category: retention by detaching whole partitions, chains per category.

`audit_events` is partitioned by month of `created_at`, and each month by category (`money`,
`security`, `access`, `general`); months on top let a newest-first listing read only the latest
months. Each category keeps its rows for its own number of months (`KEEL_AUDIT_RETENTION_MONTHS`);
`keel audit maintain` creates the months ahead and detaches each category's months past retention into
the `keel_archive` schema — rows are never deleted from a live partition.

So that dropping a category's oldest months leaves a verifiable chain, every (organisation, category)
has its own hash chain. `audit_chains` holds each chain's head (no scan of the partitions per insert)
and its anchor: the last row detached by retention, where the remaining chain must start. Only the
chain trigger and the maintenance write it, as `keel_definer`.

Existing rows are copied into the new table in their original order and chained again per category.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from keel.core.rls import tenant_table

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CATEGORIES = ("money", "security", "access", "general")
MONTHS_AHEAD = 6
GENESIS = "'\\x" + "00" * 32 + "'::bytea"

# The category of the actions that existed before this migration (later ones are set by the writer).
BACKFILL_CATEGORY = """
CASE split_part(action, '.', 1)
    WHEN 'audit' THEN 'access' WHEN 'compliance_export' THEN 'access'
    WHEN 'token' THEN 'security' WHEN 'api_key' THEN 'security' WHEN 'role' THEN 'security'
    WHEN 'team' THEN 'security' WHEN 'member' THEN 'security' WHEN 'invitation' THEN 'security'
    WHEN 'organization' THEN 'security' WHEN 'profile' THEN 'security'
    ELSE 'general'
END
"""

DIGEST = f"""
CREATE FUNCTION keel.audit_digest(
    prev_hash bytea, id uuid, org_id uuid, category text, seq bigint, created_at timestamptz, actor text,
    client_id text, action text, entity_type text, entity_id text, request_id text, ip inet,
    user_agent text, before jsonb, after jsonb
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT sha256(coalesce(prev_hash, {GENESIS}) || convert_to(jsonb_build_array(
        id, org_id, category, seq, (extract(epoch FROM created_at) * 1000000)::bigint,
        actor, client_id, action, entity_type, entity_id, request_id, host(ip), user_agent, before, after
    )::text, 'UTF8'))
$$
"""

# Runs as keel_definer: it alone reads and moves the chain heads.
CHAIN = f"""
CREATE FUNCTION keel.audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    -- One writer per chain at a time, so two transactions cannot take the same place.
    PERFORM pg_advisory_xact_lock(hashtextextended('keel.audit:' || NEW.org_id || ':' || NEW.category, 0));
    SELECT seq, hash INTO last_seq, last_hash FROM keel.audit_chains
    WHERE org_id = NEW.org_id AND category = NEW.category;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, {GENESIS});
    NEW.hash := keel.audit_digest(
        NEW.prev_hash, NEW.id, NEW.org_id, NEW.category, NEW.seq, NEW.created_at, NEW.actor,
        NEW.client_id, NEW.action, NEW.entity_type, NEW.entity_id, NEW.request_id, NEW.ip,
        NEW.user_agent, NEW.before, NEW.after
    );
    INSERT INTO keel.audit_chains (org_id, category, seq, hash)
    VALUES (NEW.org_id, NEW.category, NEW.seq, NEW.hash)
    ON CONFLICT (org_id, category) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash;
    RETURN NEW;
END
$$
"""


def _month(d: date, add: int = 0) -> date:
    months = d.year * 12 + d.month - 1 + add
    return date(months // 12, months % 12 + 1, 1)


def month_partitions(first_day: date) -> list[str]:
    """A month of the trail, and in it one partition per category."""
    month = f"audit_events_{first_day:%Y%m}"
    return [
        f"CREATE TABLE keel.{month} PARTITION OF keel.audit_events FOR VALUES FROM "
        f"('{first_day.isoformat()}') TO ('{_month(first_day, 1).isoformat()}') PARTITION BY LIST (category)",
        *(
            f"CREATE TABLE keel.{month}_{category} PARTITION OF keel.{month} FOR VALUES IN ('{category}')"
            for category in CATEGORIES
        ),
    ]


def _as_definer(statement: str) -> None:
    """Run `statement` as keel_definer, which bypasses row-level security, to move every
    organisation's rows at once (the owner, like everyone, sees none without a tenant)."""
    op.execute("SET ROLE keel_definer")
    op.execute(statement)
    op.execute("SET ROLE keel_owner")


def upgrade() -> None:
    op.execute("ALTER TABLE keel.audit_events RENAME TO audit_events_before_0008")
    op.execute("GRANT SELECT ON keel.audit_events_before_0008 TO keel_definer")
    op.execute("SET ROLE keel_definer")
    oldest = (
        op.get_bind().execute(sa.text("SELECT min(created_at) FROM keel.audit_events_before_0008")).scalar()
    )
    op.execute("SET ROLE keel_owner")
    this_month = _month(datetime.now(UTC).date())
    first = _month(oldest.date()) if oldest else this_month

    op.execute("DROP TRIGGER audit_chain ON keel.audit_events_before_0008")
    op.execute("DROP FUNCTION keel.audit_chain()")
    op.execute("DROP FUNCTION keel.audit_digest(keel.audit_events_before_0008)")
    for index in ("ix_audit_events_org_id_created_at_id", "pk_audit_events", "uq_audit_events_org_id_seq"):
        op.execute(f"ALTER INDEX IF EXISTS keel.{index} RENAME TO {index}_before_0008")

    op.execute(
        """
        CREATE TABLE keel.audit_events (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            category varchar(16) NOT NULL,
            -- The insert's own time, not its transaction's: it picks the month, and the chain's order
            -- must follow the months for retention to cut it cleanly.
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor varchar(200) NOT NULL,
            client_id varchar(200),  -- the OAuth client a user acted through
            action varchar(100) NOT NULL,
            entity_type varchar(50) NOT NULL,
            entity_id varchar(100),
            request_id varchar(128),
            ip inet,
            user_agent text,
            before jsonb,
            after jsonb,
            seq bigint NOT NULL,
            prev_hash bytea NOT NULL,
            hash bytea NOT NULL,
            CONSTRAINT pk_audit_events PRIMARY KEY (org_id, category, seq, created_at)
        ) PARTITION BY RANGE (created_at)
        """
    )
    op.execute(
        "CREATE INDEX ix_audit_events_org_id_created_at_id ON keel.audit_events (org_id, created_at, id)"
    )
    month = first
    while month <= _month(this_month, MONTHS_AHEAD):
        for statement in month_partitions(month):
            op.execute(statement)
        month = _month(month, 1)
    for statement in tenant_table("audit_events", grants="SELECT, INSERT"):
        op.execute(statement)
    op.execute("GRANT SELECT, INSERT ON keel.audit_events TO keel_platform")

    op.execute(
        """
        CREATE TABLE keel.audit_chains (
            org_id uuid NOT NULL,
            category varchar(16) NOT NULL,
            seq bigint NOT NULL,
            hash bytea NOT NULL,
            anchor_seq bigint,
            anchor_hash bytea,
            CONSTRAINT pk_audit_chains PRIMARY KEY (org_id, category)
        )
        """
    )
    for statement in tenant_table("audit_chains", grants="SELECT"):
        op.execute(statement)
    op.execute("GRANT SELECT, INSERT, UPDATE ON keel.audit_chains TO keel_definer")
    op.execute("GRANT SELECT ON keel.audit_events TO keel_definer")

    op.execute(DIGEST)
    op.execute("GRANT CREATE ON SCHEMA keel TO keel_definer")
    op.execute(CHAIN)
    op.execute("ALTER FUNCTION keel.audit_chain() OWNER TO keel_definer")
    op.execute("REVOKE ALL ON FUNCTION keel.audit_chain() FROM PUBLIC")
    op.execute("REVOKE CREATE ON SCHEMA keel FROM keel_definer")
    op.execute(
        "CREATE TRIGGER audit_chain BEFORE INSERT ON keel.audit_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_chain()"
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON keel.audit_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_append_only()"
    )

    # Every row, in its original order, into its category's chain. Chained here in one pass (the
    # trigger would look up and move a chain head per row, which in one transaction grows with n²).
    op.execute("ALTER TABLE keel.audit_events DISABLE TRIGGER audit_chain")
    op.execute("GRANT INSERT ON keel.audit_events TO keel_definer")
    _as_definer(
        f"""
        DO $$
        DECLARE r record; chain_org uuid; chain_category text; n bigint; last bytea; h bytea;
        BEGIN
            FOR r IN SELECT o.*, {BACKFILL_CATEGORY} AS cat FROM keel.audit_events_before_0008 o
                     ORDER BY org_id, cat, seq LOOP
                IF r.org_id IS DISTINCT FROM chain_org OR r.cat IS DISTINCT FROM chain_category THEN
                    chain_org := r.org_id; chain_category := r.cat; n := 0; last := {GENESIS};
                END IF;
                n := n + 1;
                h := keel.audit_digest(last, r.id, r.org_id, r.cat, n, r.created_at, r.actor, NULL, r.action,
                    r.entity_type, r.entity_id, r.request_id, r.ip, r.user_agent, r.before, r.after);
                INSERT INTO keel.audit_events (id, org_id, category, created_at, actor, action, entity_type,
                    entity_id, request_id, ip, user_agent, before, after, seq, prev_hash, hash)
                VALUES (r.id, r.org_id, r.cat, r.created_at, r.actor, r.action, r.entity_type, r.entity_id,
                    r.request_id, r.ip, r.user_agent, r.before, r.after, n, last, h);
                last := h;
            END LOOP;
        END
        $$
        """
    )
    _as_definer(
        "INSERT INTO keel.audit_chains (org_id, category, seq, hash) "
        "SELECT DISTINCT ON (org_id, category) org_id, category, seq, hash FROM keel.audit_events "
        "ORDER BY org_id, category, seq DESC"
    )
    op.execute("ALTER TABLE keel.audit_events ENABLE TRIGGER audit_chain")
    op.execute("REVOKE INSERT ON keel.audit_events FROM keel_definer")
    op.execute("DROP TABLE keel.audit_events_before_0008")
    op.execute("CREATE SCHEMA IF NOT EXISTS keel_archive AUTHORIZATION keel_owner")
    op.execute("REVOKE ALL ON SCHEMA keel_archive FROM PUBLIC")


def _revision_0004() -> ModuleType:
    """The single-chain trigger and digest of revision 0004, which the downgrade restores."""
    spec = importlib.util.spec_from_file_location(
        "keel_revision_0004", Path(__file__).with_name("0004_audit_chain.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    # Refuses (the schema is not empty) while detached months are still archived: export them first.
    op.execute("DROP SCHEMA IF EXISTS keel_archive RESTRICT")
    op.execute("ALTER TABLE keel.audit_events RENAME TO audit_events_partitioned")
    op.execute("ALTER INDEX keel.ix_audit_events_org_id_created_at_id RENAME TO ix_audit_events_partitioned")
    op.execute(
        "ALTER TABLE keel.audit_events_partitioned RENAME CONSTRAINT pk_audit_events TO pk_audit_events_p"
    )
    op.execute("DROP TRIGGER audit_chain ON keel.audit_events_partitioned")
    op.execute("DROP FUNCTION keel.audit_chain()")
    op.execute(
        "DROP FUNCTION keel.audit_digest(bytea, uuid, uuid, text, bigint, timestamptz, text, text, text, "
        "text, text, text, inet, text, jsonb, jsonb)"
    )
    op.execute(
        """
        CREATE TABLE keel.audit_events (
            id uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT pk_audit_events PRIMARY KEY,
            org_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            actor varchar(200) NOT NULL,
            action varchar(100) NOT NULL,
            entity_type varchar(50) NOT NULL,
            entity_id varchar(100),
            request_id varchar(128),
            ip inet,
            user_agent text,
            before jsonb,
            after jsonb,
            seq bigint NOT NULL,
            prev_hash bytea NOT NULL,
            hash bytea NOT NULL,
            CONSTRAINT uq_audit_events_org_id_seq UNIQUE (org_id, seq)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_audit_events_org_id_created_at_id ON keel.audit_events (org_id, created_at, id)"
    )
    for statement in tenant_table("audit_events", grants="SELECT, INSERT"):
        op.execute(statement)
    op.execute("GRANT SELECT, INSERT ON keel.audit_events TO keel_platform")
    single_chain = _revision_0004()
    op.execute(single_chain.DIGEST)
    op.execute(single_chain.CHAIN)
    op.execute(
        "CREATE TRIGGER audit_chain BEFORE INSERT ON keel.audit_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_chain()"
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON keel.audit_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_append_only()"
    )
    op.execute("GRANT SELECT, INSERT ON keel.audit_events TO keel_definer")
    _as_definer(
        """
        INSERT INTO keel.audit_events (id, org_id, created_at, actor, action, entity_type, entity_id,
            request_id, ip, user_agent, before, after)
        SELECT id, org_id, created_at, actor, action, entity_type, entity_id, request_id, ip, user_agent,
            before, after
        FROM keel.audit_events_partitioned ORDER BY org_id, created_at, id
        """
    )
    op.execute("REVOKE SELECT, INSERT ON keel.audit_events FROM keel_definer")
    op.execute("DROP TABLE keel.audit_events_partitioned")
    op.execute("DROP TABLE keel.audit_chains")
