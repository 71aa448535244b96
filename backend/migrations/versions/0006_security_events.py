"""Security events of user accounts: sign-ins (accepted and refused), second factors, passwords, e-mail.

They happen before any organisation is chosen (or for no known account at all), so they are not in an
organisation's audit trail. Like it, they are append-only and hash-chained: one chain per subject (a
user, or the e-mail address tried when no account matched). The runtime role cannot write the table;
it appends through `keel.record_security_event`, and a user reads only their own events.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import user_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GENESIS = "'\\x" + "00" * 32 + "'::bytea"

DIGEST = f"""
CREATE FUNCTION keel.security_event_digest(e keel.security_events) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT sha256(coalesce(e.prev_hash, {GENESIS}) || convert_to(jsonb_build_array(
        e.id, e.subject, e.seq, (extract(epoch FROM e.created_at) * 1000000)::bigint,
        e.user_id, e.action, e.request_id, host(e.ip), e.user_agent, e.detail
    )::text, 'UTF8'))
$$
"""

CHAIN = f"""
CREATE FUNCTION keel.security_event_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('keel.security:' || NEW.subject, 0));
    SELECT seq, hash INTO last_seq, last_hash FROM keel.security_events
    WHERE subject = NEW.subject ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, {GENESIS});
    NEW.hash := keel.security_event_digest(NEW);
    RETURN NEW;
END
$$
"""

# Called by the runtime role; runs as keel_definer, the only writer. It appends and returns nothing.
RECORD = """
CREATE FUNCTION keel.record_security_event(
    p_user_id uuid, p_email text, p_action text, p_ip text, p_user_agent text, p_request_id text,
    p_detail jsonb
) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
    INSERT INTO keel.security_events (subject, user_id, action, ip, user_agent, request_id, detail)
    VALUES (
        CASE WHEN p_user_id IS NULL THEN 'email:' || coalesce(lower(left(p_email, 254)), '')
             ELSE 'user:' || p_user_id END,
        p_user_id, left(p_action, 100), p_ip::inet, left(p_user_agent, 400), left(p_request_id, 128), p_detail
    )
$$
"""


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("user_id", sa.Uuid),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("ip", pg.INET),
        sa.Column("user_agent", sa.Text),
        sa.Column("request_id", sa.String(128)),
        sa.Column("detail", pg.JSONB),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.UniqueConstraint("subject", "seq"),
    )
    op.create_index(
        "ix_security_events_user_id_created_at_id", "security_events", ["user_id", "created_at", "id"]
    )
    for statement in user_table("security_events", grants="SELECT"):
        op.execute(statement)
    op.execute(
        "CREATE POLICY platform_access ON keel.security_events FOR SELECT TO keel_platform USING (true)"
    )
    op.execute("GRANT SELECT ON keel.security_events TO keel_platform")
    op.execute(DIGEST)
    op.execute(CHAIN)
    op.execute(
        "CREATE TRIGGER security_event_chain BEFORE INSERT ON keel.security_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.security_event_chain()"
    )
    op.execute(
        "CREATE TRIGGER security_events_append_only BEFORE UPDATE OR DELETE ON keel.security_events "
        "FOR EACH ROW EXECUTE FUNCTION keel.audit_append_only()"
    )
    op.execute("GRANT SELECT, INSERT ON keel.security_events TO keel_definer")
    op.execute("GRANT CREATE ON SCHEMA keel TO keel_definer")
    op.execute(RECORD)
    fn = "record_security_event(uuid, text, text, text, text, text, jsonb)"
    op.execute(f"ALTER FUNCTION keel.{fn} OWNER TO keel_definer")
    op.execute(f"REVOKE ALL ON FUNCTION keel.{fn} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION keel.{fn} TO keel_app")
    op.execute("REVOKE CREATE ON SCHEMA keel FROM keel_definer")


def downgrade() -> None:
    op.execute("DROP FUNCTION keel.record_security_event(uuid, text, text, text, text, text, jsonb)")
    op.execute("DROP TABLE keel.security_events CASCADE")  # with the digest function over its rows
    op.execute("DROP FUNCTION keel.security_event_chain()")
