"""The owned record types that exist, registered with the visibility harness with every read path."""

from __future__ import annotations

from uuid import UUID

import psycopg

from tests.access.visibility import REGISTRY, OwnedRecordType, ReadPath, Seed, Viewer, register


def seed_into(table: str, required: str) -> Seed:
    """Inserts a row with its one required column (`column = 'value'`) and the owner and assignee."""
    column, value = required.split(" = ")

    def seed(conn: psycopg.Connection, org_id: UUID, owner: UUID, assignee: UUID | None) -> str:
        row = conn.execute(
            f"INSERT INTO keel.{table} (org_id, {column}, owner_id, assignee_id) "
            f"VALUES (%s, {value}, %s, %s) RETURNING id::text",
            [org_id, owner, assignee],
        ).fetchone()
        assert row is not None
        return str(row[0])

    return seed


def api_paths(resource: str) -> dict[str, ReadPath]:
    """The list and get paths of `/api/v1/<resource>`."""

    async def listed(viewer: Viewer, ids: set[str]) -> set[str]:
        page = await viewer.client.get(f"/api/v1/{resource}", params={"limit": 100}, headers=viewer.headers)
        assert page.status_code in (200, 403), page.text
        if page.status_code == 403:
            return set()
        return {item["id"] for item in page.json()["items"]}

    async def fetched(viewer: Viewer, ids: set[str]) -> set[str]:
        shown = set()
        for record_id in ids:
            answer = await viewer.client.get(f"/api/v1/{resource}/{record_id}", headers=viewer.headers)
            assert answer.status_code in (200, 403, 404), answer.text
            if answer.status_code == 200:
                shown.add(record_id)
        return shown

    return {"list": listed, "get": fetched}


register(
    OwnedRecordType("account", "accounts", seed_into("accounts", "name = 'Acme'"), api_paths("accounts"))
)
register(
    OwnedRecordType(
        "contact", "contacts", seed_into("contacts", "last_name = 'Lovelace'"), api_paths("contacts")
    )
)


def seed_deal(conn: psycopg.Connection, org_id: UUID, owner: UUID, assignee: UUID | None) -> str:
    """A deal at the first stage of the default pipeline, for an account of the same owner."""
    account = seed_into("accounts", "name = 'Acme'")(conn, org_id, owner, None)
    row = conn.execute(
        "INSERT INTO keel.deals (org_id, name, account_id, pipeline_id, stage_id, currency, owner_id, "
        "assignee_id) SELECT %s, 'Renewal', %s, p.id, s.id, 'EUR', %s, %s FROM keel.pipelines p "
        "JOIN keel.stages s ON s.pipeline_id = p.id AND s.position = 1 WHERE p.org_id = %s AND p.is_default "
        "RETURNING id::text",
        [org_id, account, owner, assignee, org_id],
    ).fetchone()
    assert row is not None
    return str(row[0])


register(OwnedRecordType("deal", "deals", seed_deal, api_paths("deals")))
register(
    OwnedRecordType(
        "lead", "leads", seed_into("leads", "company = 'Initech'"), api_paths("leads"), "leads:read"
    )
)
register(
    OwnedRecordType("ticket", "tickets", seed_into("tickets", "subject = 'Broken'"), api_paths("tickets"))
)
register(
    OwnedRecordType(
        "activity", "activities", seed_into("activities", "kind = 'note'"), api_paths("activities")
    )
)


def export_path(resource: str) -> ReadPath:
    """The CSV export of `/api/v1/<resource>/export`: the ids in its first column."""

    async def exported(viewer: Viewer, ids: set[str]) -> set[str]:
        answer = await viewer.client.get(f"/api/v1/{resource}/export", headers=viewer.headers)
        assert answer.status_code in (200, 403), answer.text
        if answer.status_code == 403:
            return set()
        return {line.split(",", 1)[0] for line in answer.text.splitlines()[1:]}

    return exported


for _resource in ("accounts", "contacts", "deals", "leads"):
    REGISTRY[_resource].paths["export"] = export_path(_resource)


def search_path(record_type: str, words: str) -> ReadPath:
    """The search box, for `words` every seeded record of `record_type` holds."""

    async def found(viewer: Viewer, ids: set[str]) -> set[str]:
        params = {"q": words, "types": record_type, "limit": 50}
        answer = await viewer.client.get("/api/v1/search", params=params, headers=viewer.headers)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()) < 50, "more records than one page of results"
        return {hit["id"] for hit in answer.json()}

    return found


async def summarised(viewer: Viewer, ids: set[str]) -> set[str]:
    """The accounts whose customer summary the viewer is shown."""
    shown = set()
    for account_id in ids:
        answer = await viewer.client.get(f"/api/v1/accounts/{account_id}/summary", headers=viewer.headers)
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 200:
            shown.add(account_id)
    return shown


REGISTRY["accounts"].paths.update(search=search_path("account", "Acme"), summary=summarised)
REGISTRY["contacts"].paths["search"] = search_path("contact", "Lovelace")
REGISTRY["deals"].paths["search"] = search_path("deal", "Renewal")
