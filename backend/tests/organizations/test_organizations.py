"""Organisations: each reads and changes only its own profile; the platform path creates and lists them,
and every platform action leaves a row in platform_audit_events or does not happen at all."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

import keel.organizations.repository
from keel.core.errors import Problem
from keel.core.platform import UnauditedPlatformAction, platform_unit_of_work
from keel.models import Organization
from keel.organizations.service import create_organization, list_organizations
from tests.conftest import MakeOrg, Org

ORG = "/api/v1/organization"


async def admin_rows(test_database: Any, sql: str, *params: object) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(
        test_database.admin_conninfo(), autocommit=True, row_factory=dict_row
    ) as conn:
        return await (await conn.execute(sql, params)).fetchall()


async def platform_events(test_database: Any) -> list[dict[str, Any]]:
    """platform_audit_events as plain dicts (whatever the org column is called)."""
    rows = await admin_rows(
        test_database, "SELECT to_jsonb(p) AS row FROM keel.platform_audit_events p ORDER BY created_at, id"
    )
    return [r["row"] for r in rows]


def target_org(event: dict[str, Any]) -> str | None:
    return event.get("target_org_id", event.get("org_id"))


async def org_row(test_database: Any, org_id: object) -> dict[str, Any] | None:
    rows = await admin_rows(
        test_database,
        "SELECT name, slug, status, settings, version, updated_at FROM keel.organizations WHERE id = %s",
        org_id,
    )
    return rows[0] if rows else None


async def etag_of(client: httpx.AsyncClient, org: Org) -> str:
    return (await client.get(ORG, headers=org.headers)).headers["etag"]


# --- each organisation sees and changes only itself ------------------------------------------------


async def test_each_organisation_reads_its_own_profile_and_no_other(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    a = (await client.get(ORG, headers=org_a.headers)).json()
    b = (await client.get(ORG, headers=org_b.headers)).json()
    assert (a["id"], a["slug"], a["name"]) == (str(org_a.id), org_a.slug, "Org A")
    assert (b["id"], b["slug"], b["name"]) == (str(org_b.id), org_b.slug, "Org B")
    assert a["status"] == "active"
    assert a["settings"] == {
        "default_currency": "EUR",
        "time_zone": "UTC",
        "locale": "en-GB",
        "fiscal_year_start_month": 1,
        "mfa_required": False,
        "ip_allowlist": [],
        "plan": "standard",
        "invitation_domains": [],
        "refresh_token_days": None,
        "session_hours": None,
    }


async def test_an_organisation_changes_only_its_own_profile(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, test_database: Any
) -> None:
    b_before = await org_row(test_database, org_b.id)
    b_etag = await etag_of(client, org_b)  # the same version number as A's: it must still only touch A

    response = await client.patch(
        ORG,
        json={"name": "Taken over", "settings": {"default_currency": "USD"}},
        headers={**org_a.headers, "If-Match": b_etag},
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(org_a.id)
    assert await org_row(test_database, org_b.id) == b_before
    assert (await client.get(ORG, headers=org_b.headers)).json()["name"] == "Org B"
    b_events = await admin_rows(
        test_database, "SELECT action FROM keel.audit_events WHERE org_id = %s", org_b.id
    )
    assert [e["action"] for e in b_events] == ["api_key.issued"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "PUT"])
async def test_there_is_no_route_that_addresses_another_organisation_by_id(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, test_database: Any, method: str
) -> None:
    b_before = await org_row(test_database, org_b.id)
    for path in (f"{ORG}/{org_b.id}", f"/api/v1/organizations/{org_b.id}", "/api/v1/organizations"):
        kwargs: dict[str, Any] = {} if method in ("GET", "DELETE") else {"json": {"name": "x"}}
        response = await client.request(method, path, headers={**org_a.headers, "If-Match": '"1"'}, **kwargs)
        assert response.status_code in (404, 405), (path, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
        assert str(org_b.id) not in response.text or response.json().get("instance", "").endswith(
            str(org_b.id)
        )
    assert await org_row(test_database, org_b.id) == b_before


async def test_an_organisation_cannot_change_its_slug_or_status(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    before = await org_row(test_database, org_a.id)
    etag = await etag_of(client, org_a)
    for patch in ({"slug": "new-slug"}, {"status": "suspended"}, {"id": str(UUID(int=1))}):
        response = await client.patch(ORG, json=patch, headers={**org_a.headers, "If-Match": etag})
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "extra_forbidden"
    assert await org_row(test_database, org_a.id) == before


# --- settings validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"settings": {"default_currency": "eur"}}, "body.settings.default_currency"),
        ({"settings": {"default_currency": "EURO"}}, "body.settings.default_currency"),
        ({"settings": {"default_currency": "E1R"}}, "body.settings.default_currency"),
        ({"settings": {"time_zone": "Mars/Olympus_Mons"}}, "body.settings.time_zone"),
        ({"settings": {"time_zone": "utc"}}, "body.settings.time_zone"),
        ({"settings": {"time_zone": ""}}, "body.settings.time_zone"),
        ({"settings": {"time_zone": "Europe/" + "x" * 100}}, "body.settings.time_zone"),
        ({"settings": {"fiscal_year_start_month": 13}}, "body.settings.fiscal_year_start_month"),
        ({"settings": {"fiscal_year_start_month": 0}}, "body.settings.fiscal_year_start_month"),
        ({"settings": {"fiscal_year_start_month": 1.5}}, "body.settings.fiscal_year_start_month"),
        ({"settings": {"locale": "english"}}, "body.settings.locale"),
        ({"settings": {"locale": "EN-gb"}}, "body.settings.locale"),
        ({"name": ""}, "body.name"),
        ({"name": "line\nbreak"}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
    ],
)
async def test_invalid_settings_are_refused_with_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, org_a: Org, test_database: Any, patch: dict[str, Any], field: str
) -> None:
    etag = await etag_of(client, org_a)
    before = await org_row(test_database, org_a.id)

    response = await client.patch(ORG, json=patch, headers={**org_a.headers, "If-Match": etag})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await org_row(test_database, org_a.id) == before


async def test_every_invalid_field_is_reported_at_once(client: httpx.AsyncClient, org_a: Org) -> None:
    response = await client.patch(
        ORG,
        json={"settings": {"default_currency": "eur", "time_zone": "Nowhere", "fiscal_year_start_month": 13}},
        headers={**org_a.headers, "If-Match": await etag_of(client, org_a)},
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {
        "body.settings.default_currency",
        "body.settings.time_zone",
        "body.settings.fiscal_year_start_month",
    }


async def test_valid_settings_are_saved_and_merged_with_the_others(
    client: httpx.AsyncClient, org_a: Org, test_database: Any
) -> None:
    response = await client.patch(
        ORG,
        json={"settings": {"default_currency": "USD", "time_zone": "America/New_York", "locale": "de-DE"}},
        headers={**org_a.headers, "If-Match": await etag_of(client, org_a)},
    )
    assert response.status_code == 200
    response = await client.patch(
        ORG,
        json={"settings": {"fiscal_year_start_month": 12}},
        headers={**org_a.headers, "If-Match": response.headers["etag"]},
    )
    expected = {
        "default_currency": "USD",
        "time_zone": "America/New_York",
        "locale": "de-DE",
        "fiscal_year_start_month": 12,
        "mfa_required": False,
        "ip_allowlist": [],
        "plan": "standard",
        "invitation_domains": [],
        "refresh_token_days": None,
        "session_hours": None,
    }
    assert response.json()["settings"] == expected
    assert (await client.get(ORG, headers=org_a.headers)).json()["settings"] == expected
    stored = await org_row(test_database, org_a.id)
    assert stored is not None
    assert stored["settings"] == expected
    assert stored["version"] == 3


async def test_null_in_a_patch_leaves_the_field_as_it_was(client: httpx.AsyncClient, org_a: Org) -> None:
    response = await client.patch(
        ORG,
        json={"name": None, "settings": {"time_zone": None, "locale": "fr-FR"}},
        headers={**org_a.headers, "If-Match": await etag_of(client, org_a)},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Org A"
    assert body["settings"]["time_zone"] == "UTC"
    assert body["settings"]["locale"] == "fr-FR"


# --- the platform path ------------------------------------------------------------------------------


async def test_platform_create_writes_the_organisation_and_a_platform_audit_row(
    app: Any, test_database: Any
) -> None:
    async with platform_unit_of_work("alice") as uow:
        org = await create_organization(uow, "New Co", "new-co")

    stored = await org_row(test_database, org.id)
    assert stored is not None
    assert (stored["name"], stored["slug"], stored["status"], stored["version"]) == (
        "New Co",
        "new-co",
        "active",
        1,
    )
    events = await platform_events(test_database)
    assert len(events) == 1
    assert events[0]["action"] == "organization.created"
    assert events[0]["actor"] == "platform:alice"
    assert target_org(events[0]) == str(org.id)
    assert events[0]["detail"] == {"name": "New Co", "slug": "new-co"}


async def test_platform_list_sees_every_organisation_and_writes_a_platform_audit_row(
    org_a: Org, org_b: Org, test_database: Any
) -> None:
    events_before = len(await platform_events(test_database))
    async with platform_unit_of_work("bob") as uow:
        orgs = await list_organizations(uow)

    assert {o.id for o in orgs} == {org_a.id, org_b.id}
    events = await platform_events(test_database)
    assert len(events) == events_before + 1
    listed = events[-1]
    assert (listed["action"], listed["actor"]) == ("organization.listed", "platform:bob")
    assert listed["detail"] == {"count": 2}


async def test_onboarding_is_recorded_as_a_platform_action(org_a: Org, test_database: Any) -> None:
    created = [e for e in await platform_events(test_database) if e["action"] == "organization.created"]
    assert [target_org(e) for e in created] == [str(org_a.id)]
    assert created[0]["actor"] == "platform:tests"


async def test_a_platform_unit_of_work_that_records_nothing_refuses_to_commit_and_leaves_no_row(
    app: Any, test_database: Any
) -> None:
    async def insert_without_recording() -> None:
        async with platform_unit_of_work("sneaky") as uow:
            uow.session.add(Organization(name="Ghost", slug="ghost", settings={}))
            await uow.session.flush()

    with pytest.raises(UnauditedPlatformAction):
        await insert_without_recording()

    assert await admin_rows(test_database, "SELECT id FROM keel.organizations WHERE slug = 'ghost'") == []
    assert await platform_events(test_database) == []


async def test_a_platform_unit_of_work_that_fails_after_recording_rolls_back_the_audit_row_too(
    app: Any, test_database: Any
) -> None:
    async def create_then_fail() -> None:
        async with platform_unit_of_work("alice") as uow:
            await create_organization(uow, "Half Done", "half-done")
            raise RuntimeError("later step failed")

    with pytest.raises(RuntimeError, match="later step failed"):
        await create_then_fail()

    assert await admin_rows(test_database, "SELECT id FROM keel.organizations WHERE slug = 'half-done'") == []
    assert await platform_events(test_database) == []


async def test_a_taken_slug_on_platform_create_is_refused_with_409_and_writes_nothing(
    org_a: Org, test_database: Any
) -> None:
    events_before = await platform_events(test_database)
    with pytest.raises(Problem) as refused:
        async with platform_unit_of_work("alice") as uow:
            await create_organization(uow, "Copycat", org_a.slug)

    assert refused.value.status == 409
    assert org_a.slug in (refused.value.detail or "")
    assert len(await admin_rows(test_database, "SELECT id FROM keel.organizations")) == 1
    assert await platform_events(test_database) == events_before


async def test_two_platform_creates_racing_for_one_slug_give_one_organisation_and_one_409(
    app: Any, test_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both pass the "is the slug free?" check before either inserts; the loser must still get a 409."""
    real_slug_taken = keel.organizations.repository.slug_taken
    both_checked = asyncio.Barrier(2)

    async def slug_taken_then_wait(session: Any, slug: str) -> bool:
        taken = await real_slug_taken(session, slug)
        await asyncio.wait_for(both_checked.wait(), timeout=10)
        return taken

    monkeypatch.setattr(keel.organizations.repository, "slug_taken", slug_taken_then_wait)

    async def create(name: str) -> Any:
        async with platform_unit_of_work("racer") as uow:
            return await create_organization(uow, name, "contested")

    results = await asyncio.gather(create("First"), create("Second"), return_exceptions=True)

    created = [r for r in results if isinstance(r, Organization)]
    refused = [r for r in results if isinstance(r, Problem)]
    assert len(created) == 1, results
    assert [p.status for p in refused] == [409], results
    assert (
        len(await admin_rows(test_database, "SELECT id FROM keel.organizations WHERE slug = 'contested'"))
        == 1
    )
    assert len(await platform_events(test_database)) == 1


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Bad Slug", "Not A Slug"), ("Bad Slug", "-leading-dash"), ("", "empty-name"), ("x" * 201, "long-name")],
)
async def test_platform_create_refuses_a_malformed_name_or_slug_with_a_422_problem(
    app: Any, test_database: Any, name: str, slug: str
) -> None:
    with pytest.raises(Problem) as refused:
        async with platform_unit_of_work("alice") as uow:
            await create_organization(uow, name, slug)

    assert refused.value.status == 422
    assert await admin_rows(test_database, "SELECT id FROM keel.organizations") == []
    assert await platform_events(test_database) == []


async def test_a_suspended_organisations_keys_stop_working(
    client: httpx.AsyncClient, org_a: Org, make_org: MakeOrg, test_database: Any
) -> None:
    async with await psycopg.AsyncConnection.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        await conn.execute("UPDATE keel.organizations SET status = 'suspended' WHERE id = %s", (org_a.id,))
    response = await client.get(ORG, headers=org_a.headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
