"""Audit trail: append-only, and each organisation's rows form a hash chain.

Every row gets the next sequence number of its organisation, the hash of the row before it, and its
own hash: SHA-256 over the previous hash and the row's content. Changing, removing or reordering rows
breaks the chain where it happened; `keel audit verify` finds the place. A trigger refuses UPDATE and
DELETE for everyone (the runtime roles have no such grant either).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "'\\x" + "00" * 32 + "'::bytea"

# The row's content in a form that does not depend on session settings (time zone, DateStyle):
# a JSON array with the timestamp in microseconds since the epoch.
DIGEST = f"""
CREATE FUNCTION keel.audit_digest(e keel.audit_events) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT sha256(coalesce(e.prev_hash, {GENESIS}) || convert_to(jsonb_build_array(
        e.id, e.org_id, e.seq, (extract(epoch FROM e.created_at) * 1000000)::bigint,
        e.actor, e.action, e.entity_type, e.entity_id, e.request_id, host(e.ip), e.user_agent,
        e.before, e.after
    )::text, 'UTF8'))
$$
"""

CHAIN = f"""
CREATE FUNCTION keel.audit_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    -- One writer per organisation at a time, so two transactions cannot take the same place.
    PERFORM pg_advisory_xact_lock(hashtextextended('keel.audit:' || NEW.org_id::text, 0));
    SELECT seq, hash INTO last_seq, last_hash FROM keel.audit_events
    WHERE org_id = NEW.org_id ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, {GENESIS});
    NEW.hash := keel.audit_digest(NEW);
    RETURN NEW;
END
$$
"""

REFUSE = """
CREATE FUNCTION keel.audit_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("seq", sa.BigInteger))
    op.add_column("audit_events", sa.Column("prev_hash", sa.LargeBinary(32)))
    op.add_column("audit_events", sa.Column("hash", sa.LargeBinary(32)))
    op.execute(DIGEST)
    op.execute(CHAIN)
    op.execute(REFUSE)
    # Rows written before the chain existed join it in their original order, organisation by organisation.
    op.execute(
        """
        DO $$
        DECLARE org uuid; r record; last_hash bytea; n bigint;
        BEGIN
            FOR org IN SELECT id FROM keel.organizations LOOP
                PERFORM set_config('app.org_id', org::text, true);
                last_hash := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
                n := 0;
                FOR r IN SELECT id FROM keel.audit_events WHERE org_id = org ORDER BY created_at, id LOOP
                    n := n + 1;
                    UPDATE keel.audit_events SET seq = n, prev_hash = last_hash WHERE id = r.id;
                    UPDATE keel.audit_events e SET hash = keel.audit_digest(e) WHERE id = r.id
                        RETURNING hash INTO last_hash;
                END LOOP;
            END LOOP;
            PERFORM set_config('app.org_id', '', true);
        END
        $$
        """
    )
    for column in ("seq", "prev_hash", "hash"):
        op.alter_column("audit_events", column, nullable=False)
    op.create_unique_constraint("uq_audit_events_org_id_seq", "audit_events", ["org_id", "seq"])
    op.execute(
        "CREATE TRIGGER audit_chain BEFORE INSERT ON keel.audit_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_chain()"
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON keel.audit_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_append_only ON keel.audit_events")
    op.execute("DROP TRIGGER audit_chain ON keel.audit_events")
    op.execute("DROP FUNCTION keel.audit_append_only()")
    op.execute("DROP FUNCTION keel.audit_chain()")
    op.execute("DROP FUNCTION keel.audit_digest(keel.audit_events)")
    op.drop_constraint("uq_audit_events_org_id_seq", "audit_events")
    for column in ("hash", "prev_hash", "seq"):
        op.drop_column("audit_events", column)
