"""Identity: users, memberships, invitations, browser sessions, OAuth clients, codes and refresh tokens.

Users are global (one identity across organisations). A transaction sees a user's row when it acts as
that user (`app.user_id`) or when the user is a member of the transaction's organisation. Codes and
refresh tokens belong to the organisation they were issued for.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from keel.core.rls import tenant_table, user_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UUID_PK = sa.text("gen_random_uuid()")
ROLES = "('org_admin', 'manager', 'sales_rep', 'finance', 'support')"


def _ts(name: str, *, nullable: bool = True, default: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if default else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("email", sa.String(254), nullable=False),
        _ts("email_verified_at"),
        sa.Column("password_hash", sa.Text),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("locale", sa.String(35), nullable=False, server_default="en"),
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("is_super_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        _ts("disabled_at"),
        sa.Column("totp_secret_encrypted", sa.Text),
        sa.Column("totp_pending_encrypted", sa.Text),  # being enrolled: active once a code proves it
        _ts("totp_enrolled_at"),
        sa.Column("totp_last_step", sa.BigInteger),
        sa.Column("backup_code_hashes", pg.ARRAY(sa.LargeBinary), nullable=False, server_default="{}"),
        sa.Column("mfa_enrolment_required", sa.Boolean, nullable=False, server_default=sa.false()),
        # Every refresh token and session older than this is dead (password reset, disabling, MFA reset).
        _ts("tokens_valid_after", nullable=False, default=True),
        _ts("last_login_at"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _ts("created_at", nullable=False, default=True),
        _ts("updated_at", nullable=False, default=True),
        sa.CheckConstraint("email = lower(email) AND email LIKE '%_@_%'", name="email_normalised"),
    )
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    for statement in user_table("users", key="id"):
        op.execute(statement)
    # Super Admins disable and re-enable accounts on the audited platform path.
    op.execute("CREATE POLICY platform_access ON keel.users TO keel_platform USING (true) WITH CHECK (true)")
    op.execute("GRANT SELECT, UPDATE ON keel.users TO keel_platform")
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), primary_key=True),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("keel.users.id"), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        _ts("created_at", nullable=False, default=True),
        sa.CheckConstraint(f"role IN {ROLES}", name="role"),
    )
    op.create_index("ix_memberships_org_id_created_at", "memberships", ["org_id", "created_at"])
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    for statement in tenant_table("memberships"):
        op.execute(statement)
    # Members of the transaction's organisation are visible to it (names and e-mails on member lists);
    # the sub-select reads memberships under their own tenant policy.
    op.execute(
        "CREATE POLICY org_members ON keel.users FOR SELECT "
        "USING (EXISTS (SELECT 1 FROM keel.memberships m WHERE m.user_id = users.id))"
    )

    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("invited_by", sa.String(200), nullable=False),
        _ts("expires_at", nullable=False),
        _ts("accepted_at"),
        sa.Column("accepted_by", sa.Uuid),
        _ts("revoked_at"),
        _ts("created_at", nullable=False, default=True),
        sa.UniqueConstraint("org_id", "secret_hash", name="uq_invitations_org_id_secret_hash"),
        sa.CheckConstraint(f"role IN {ROLES}", name="role"),
    )
    op.create_index("ix_invitations_org_id_created_at_id", "invitations", ["org_id", "created_at", "id"])
    for statement in tenant_table("invitations"):
        op.execute(statement)

    # Single-use links e-mailed to a user: e-mail verification and password reset.
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("keel.users.id"), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("new_email", sa.String(254)),  # verify_email: the address being confirmed
        _ts("expires_at", nullable=False),
        _ts("used_at"),
        _ts("created_at", nullable=False, default=True),
        sa.CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="purpose"),
    )
    op.create_index("ix_user_tokens_user_id_secret_hash", "user_tokens", ["user_id", "secret_hash"])
    for statement in user_table("user_tokens"):
        op.execute(statement)

    # Browser sessions of the authorization server's pages.
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("user_id", sa.Uuid, sa.ForeignKey("keel.users.id"), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        _ts("password_at", nullable=False),
        _ts("mfa_at"),
        _ts("expires_at", nullable=False),
        _ts("revoked_at"),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(400)),
        _ts("created_at", nullable=False, default=True),
    )
    op.create_index("ix_login_sessions_user_id_secret_hash", "login_sessions", ["user_id", "secret_hash"])
    for statement in user_table("login_sessions"):
        op.execute(statement)

    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("redirect_uris", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("first_party", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("scope", sa.Text, nullable=False, server_default="api offline_access"),
        sa.Column("secret_hash", sa.LargeBinary(32)),  # NULL: a public client (PKCE, no secret)
        _ts("created_at", nullable=False, default=True),
        _ts("disabled_at"),
    )
    op.execute("ALTER TABLE keel.oauth_clients ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE keel.oauth_clients FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY runtime_read ON keel.oauth_clients FOR SELECT TO keel_app USING (true)")
    op.execute(
        "CREATE POLICY platform_access ON keel.oauth_clients TO keel_platform USING (true) WITH CHECK (true)"
    )
    op.execute("GRANT SELECT ON keel.oauth_clients TO keel_app")
    op.execute("GRANT SELECT, INSERT, UPDATE ON keel.oauth_clients TO keel_platform")

    op.create_table(
        "authorization_codes",
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), primary_key=True),
        sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(8), nullable=False),
        sa.Column("nonce", sa.String(255)),
        _ts("auth_time", nullable=False),
        _ts("expires_at", nullable=False),
        _ts("redeemed_at"),
        sa.Column("family_id", sa.Uuid),  # what the redemption issued: revoked if the code comes back
        _ts("created_at", nullable=False, default=True),
    )
    op.create_index(
        "ix_authorization_codes_org_id_expires_at", "authorization_codes", ["org_id", "expires_at"]
    )
    for statement in tenant_table("authorization_codes"):
        op.execute(statement)

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid, primary_key=True, server_default=UUID_PK),
        sa.Column("org_id", sa.Uuid, sa.ForeignKey("keel.organizations.id"), nullable=False),
        sa.Column("family_id", sa.Uuid, nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("dpop_jkt", sa.String(64)),
        _ts("family_started_at", nullable=False),
        _ts("expires_at", nullable=False),  # the family's absolute end: rotation does not extend it
        _ts("rotated_at"),
        _ts("revoked_at"),
        _ts("created_at", nullable=False, default=True),
        sa.UniqueConstraint("org_id", "token_hash", name="uq_refresh_tokens_org_id_token_hash"),
    )
    op.create_index("ix_refresh_tokens_org_id_family_id", "refresh_tokens", ["org_id", "family_id"])
    op.create_index("ix_refresh_tokens_org_id_user_id", "refresh_tokens", ["org_id", "user_id"])
    for statement in tenant_table("refresh_tokens"):
        op.execute(statement)

    # Definer functions, on the catalog test's allowlist.
    op.execute("GRANT SELECT ON keel.users, keel.memberships, keel.organizations TO keel_definer")
    op.execute(
        """
        CREATE FUNCTION keel.login_candidate(p_email text)
        RETURNS TABLE (user_id uuid, password_hash text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            SELECT u.id, u.password_hash FROM keel.users u
            WHERE u.email = lower(p_email) AND u.disabled_at IS NULL
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION keel.my_organizations()
        RETURNS TABLE (org_id uuid, name text, role text, mfa_required boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            SELECT o.id, o.name::text, m.role::text, coalesce((o.settings->>'mfa_required')::boolean, false)
            FROM keel.memberships m JOIN keel.organizations o ON o.id = m.org_id
            WHERE m.user_id = nullif(current_setting('app.user_id', true), '')::uuid
              AND o.status = 'active'
            ORDER BY o.name
        $$
        """
    )
    # An Org Admin resets a member's second factor: only for a member of the transaction's
    # organisation; the member must enrol again, and their sessions and tokens end.
    op.execute("GRANT UPDATE ON keel.users TO keel_definer")
    op.execute(
        """
        CREATE FUNCTION keel.reset_member_mfa(p_user_id uuid)
        RETURNS boolean
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            WITH reset AS (
                UPDATE keel.users u SET totp_secret_encrypted = NULL, totp_pending_encrypted = NULL,
                    totp_enrolled_at = NULL, totp_last_step = NULL, backup_code_hashes = '{}',
                    mfa_enrolment_required = true, tokens_valid_after = now(), version = version + 1
                WHERE u.id = p_user_id AND EXISTS (
                    SELECT 1 FROM keel.memberships m WHERE m.user_id = p_user_id
                    AND m.org_id = nullif(current_setting('app.org_id', true), '')::uuid)
                RETURNING 1
            )
            SELECT count(*) = 1 FROM reset
        $$
        """
    )
    # Housekeeping: spent credentials are kept a day past their end (to recognise a replayed code or a
    # reused refresh token and answer it properly), then deleted in every organisation.
    op.execute(
        "GRANT SELECT, DELETE ON keel.authorization_codes, keel.refresh_tokens, keel.login_sessions, "
        "keel.user_tokens TO keel_definer"
    )
    op.execute(
        """
        CREATE FUNCTION keel.purge_spent_credentials(p_kept interval)
        RETURNS bigint
        LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            WITH codes AS (
                DELETE FROM keel.authorization_codes WHERE expires_at < now() - p_kept RETURNING 1
            ), tokens AS (
                DELETE FROM keel.refresh_tokens
                WHERE expires_at < now() - p_kept OR revoked_at < now() - p_kept RETURNING 1
            ), sessions AS (
                DELETE FROM keel.login_sessions
                WHERE expires_at < now() - p_kept OR revoked_at < now() - p_kept RETURNING 1
            ), links AS (
                DELETE FROM keel.user_tokens WHERE expires_at < now() - p_kept RETURNING 1
            )
            SELECT (SELECT count(*) FROM codes) + (SELECT count(*) FROM tokens)
                 + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM links)
        $$
        """
    )
    op.execute("GRANT CREATE ON SCHEMA keel TO keel_definer")
    for fn in (
        "login_candidate(text)",
        "my_organizations()",
        "reset_member_mfa(uuid)",
        "purge_spent_credentials(interval)",
    ):
        op.execute(f"ALTER FUNCTION keel.{fn} OWNER TO keel_definer")
        op.execute(f"REVOKE ALL ON FUNCTION keel.{fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION keel.{fn} TO keel_app")
    op.execute("REVOKE CREATE ON SCHEMA keel FROM keel_definer")


def downgrade() -> None:
    op.execute("DROP FUNCTION keel.purge_spent_credentials(interval)")
    op.execute("DROP FUNCTION keel.reset_member_mfa(uuid)")
    op.execute("DROP FUNCTION keel.my_organizations()")
    op.execute("DROP FUNCTION keel.login_candidate(text)")
    op.execute("DROP POLICY org_members ON keel.users")
    for table in (
        "refresh_tokens",
        "authorization_codes",
        "oauth_clients",
        "login_sessions",
        "user_tokens",
        "invitations",
        "memberships",
        "users",
    ):
        op.drop_table(table, schema="keel")
