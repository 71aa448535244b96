"""Search that uses its indexes under row-level security (ADR 0018).

The trigram and full-text operators are not leakproof, so PostgreSQL applies a table's policies before
them and cannot use them as index conditions: a search read every row of the organisation. Three
definer functions find the candidates instead, one per searched type. Each runs without the policies,
so the composite `(org_id, …)` GIN indexes of migration 0017 serve the match, and states the policies
itself: the transaction's organisation (none set, nothing found) and the user's record scope, both in
the policies' own words (`keel.core.rls`). They return ids and scores only; the search then joins each
id back to its table under the policies, so a row the caller may not read can never be shown, even if a
function and a policy disagreed.

The word-similarity threshold is the functions' own setting: no statement sets it per search.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

from keel.core.rls import CURRENT_ORG, TEAM_OF_USER_IN_ORG, visible_to_scope

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# A little more lenient than pg_trgm's 0.6, so one wrong letter in a short name still finds it.
WORD_SIMILARITY = "0.5"
CONTACT_NAME = "(r.first_name || ' ' || r.last_name)"
LIKE_PATTERN = r"""'%' || replace(replace(replace(p_query, '\', '\\'), '%', '\%'), '_', '\_') || '%'"""

# type -> (table, the title ranked by similarity, further texts ranked, what else matches, columns read)
SEARCHED = {
    "accounts": ("accounts", "r.name", [], [], "name, search"),
    "contacts": (
        "contacts",
        CONTACT_NAME,
        ["coalesce(r.email, '')"],
        ["r.email ILIKE pattern"],
        "first_name, last_name, email, search",
    ),
    "deals": ("deals", "r.name", [], [], "name, search"),
}


def _function(kind: str) -> tuple[str, str]:
    """The function (PL/pgSQL, so its plan is prepared once per connection) and the grant it needs."""
    table, title, ranked, also, columns = SEARCHED[kind]
    similarity = ", ".join(f"extensions.word_similarity(p_query, {t})" for t in [title, *ranked])
    matches = " OR ".join(["r.search @@ words", f"p_query OPERATOR(extensions.<%) {title}", *also])
    scope = visible_to_scope("r.owner_id", "r.assignee_id", team_of_user=TEAM_OF_USER_IN_ORG)
    create = f"""
        CREATE FUNCTION keel.search_{kind}(p_query text, p_limit integer)
        RETURNS TABLE (id uuid, score real)
        LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 20
        SET search_path = pg_catalog, keel
        SET pg_trgm.word_similarity_threshold = {WORD_SIMILARITY}
        AS $$
        DECLARE
            words tsquery := websearch_to_tsquery('simple'::regconfig, p_query);
            -- `%`, `_` and the backslash in the query are themselves, not wildcards.
            pattern text := {LIKE_PATTERN};
        BEGIN
            RETURN QUERY
            SELECT r.id, greatest(ts_rank(r.search, words), {similarity})
            FROM keel.{table} r
            WHERE r.org_id = {CURRENT_ORG}
              AND {scope}
              AND ({matches})
            ORDER BY 2 DESC, {title}, r.id
            LIMIT p_limit;
        END
        $$
        """
    grant = f"GRANT SELECT (id, org_id, owner_id, assignee_id, {columns}) ON keel.{table} TO keel_definer"
    return create, grant


def upgrade() -> None:
    # A role that is not a superuser may name pg_trgm's setting in a function once the library is loaded.
    op.execute("SELECT extensions.word_similarity('', '')")
    op.execute("GRANT SELECT (org_id, team_id, user_id) ON keel.team_members TO keel_definer")
    op.execute("GRANT CREATE ON SCHEMA keel TO keel_definer")
    for kind in SEARCHED:
        create, grant = _function(kind)
        op.execute(grant)
        op.execute(create)
        function = f"keel.search_{kind}(text, integer)"
        op.execute(f"ALTER FUNCTION {function} OWNER TO keel_definer")
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO keel_app")
    op.execute("REVOKE CREATE ON SCHEMA keel FROM keel_definer")


def downgrade() -> None:
    for kind, (table, *_rest, columns) in SEARCHED.items():
        op.execute(f"DROP FUNCTION keel.search_{kind}(text, integer)")
        op.execute(
            f"REVOKE SELECT (id, org_id, owner_id, assignee_id, {columns}) ON keel.{table} FROM keel_definer"
        )
    op.execute("REVOKE SELECT (org_id, team_id, user_id) ON keel.team_members FROM keel_definer")
