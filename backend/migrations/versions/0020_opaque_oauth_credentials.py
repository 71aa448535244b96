"""Authorization codes and refresh tokens that name no one, and codes bound to a DPoP key.

Codes and refresh tokens become 256 random bits with nothing else in them (ADR 0015). Their organisation
is found through `keel.oauth_credential_org`, a definer function that answers one question: which
organisation holds the credential with this hash. The row itself is then read under the tenant policy as
before. Values of the earlier `<org hex>.<secret>` shape are found the same way (by the hash of the whole
value), so they keep working until their rows expire.

`authorization_codes.dpop_jkt` keeps the DPoP key thumbprint an authorization request named (RFC 9449
section 10); such a code is redeemed only with a proof by that key.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

FUNCTION = "oauth_credential_org(text, bytea)"


def upgrade() -> None:
    op.add_column("authorization_codes", sa.Column("dpop_jkt", sa.String(64)))
    # The lookup before the tenant is known: by hash alone, across organisations (not unique, so the
    # tenant-scoped unique keys stay the only ones).
    op.execute("CREATE INDEX ix_authorization_codes_code_hash ON keel.authorization_codes (code_hash)")
    op.execute("CREATE INDEX ix_refresh_tokens_token_hash ON keel.refresh_tokens (token_hash)")
    # keel_definer already reads both tables (0003, for purge_spent_credentials). Spent and rotated rows
    # are found too: a replayed code or a reused refresh token must reach its tenant to be answered.
    op.execute(
        """
        CREATE FUNCTION keel.oauth_credential_org(p_kind text, p_hash bytea)
        RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, keel AS $$
            SELECT org_id FROM (
                SELECT c.org_id FROM keel.authorization_codes c
                WHERE p_kind = 'code' AND c.code_hash = p_hash
                UNION ALL
                SELECT t.org_id FROM keel.refresh_tokens t
                WHERE p_kind = 'refresh_token' AND t.token_hash = p_hash
            ) found
            LIMIT 1
        $$
        """
    )
    op.execute("GRANT CREATE ON SCHEMA keel TO keel_definer")
    op.execute(f"ALTER FUNCTION keel.{FUNCTION} OWNER TO keel_definer")
    op.execute(f"REVOKE ALL ON FUNCTION keel.{FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION keel.{FUNCTION} TO keel_app")
    op.execute("REVOKE CREATE ON SCHEMA keel FROM keel_definer")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION keel.{FUNCTION}")
    op.execute("DROP INDEX keel.ix_refresh_tokens_token_hash")
    op.execute("DROP INDEX keel.ix_authorization_codes_code_hash")
    op.drop_column("authorization_codes", "dpop_jkt")
