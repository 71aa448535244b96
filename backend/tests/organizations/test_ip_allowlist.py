"""An organisation's IP allowlist holds on the API, tokens and sign-in, and cannot lock out its editor."""

from __future__ import annotations

import httpx
import psycopg

from keel.core.cache import get_shared_state
from tests.conftest import PUBLIC_URL, DatabaseUnderTest, Org, keel_cli
from tests.identity.conftest import (
    MakeUser,
    authorization,
    authorization_server,
    bearer,
    make_user,
    refresh,
    sign_in,
    tokens_for,
)

__all__ = ["authorization_server", "make_user"]  # fixtures used here

ORG = "/api/v1/organization"
OFFICE = "203.0.113.0/24"


def from_address(app, address: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url=PUBLIC_URL
    )


async def set_allowlist(http: httpx.AsyncClient, org: Org, networks: list[str]) -> httpx.Response:
    current = await http.get(ORG, headers=org.headers)
    return await http.patch(
        ORG,
        json={"settings": {"ip_allowlist": networks}},
        headers={**org.headers, "If-Match": current.headers["etag"]},
    )


async def test_an_admin_cannot_save_a_list_that_excludes_their_own_address(app, org_a: Org) -> None:  # type: ignore[no-untyped-def]
    async with from_address(app, "198.51.100.7") as elsewhere:
        refused = await set_allowlist(elsewhere, org_a, [OFFICE])
        assert refused.status_code == 409 and "198.51.100.7" in refused.json()["detail"]
    async with from_address(app, "203.0.113.9") as office:
        saved = await set_allowlist(office, org_a, [OFFICE, "2001:db8::/32"])
        assert saved.status_code == 200
        assert saved.json()["settings"]["ip_allowlist"] == [OFFICE, "2001:db8::/32"]


async def test_bad_networks_are_refused(app, org_a: Org) -> None:  # type: ignore[no-untyped-def]
    async with from_address(app, "203.0.113.9") as office:
        for bad in (["nonsense"], ["203.0.113.0/33"], ["10.0.0.1"] * 101):
            assert (await set_allowlist(office, org_a, bad)).status_code == 422, bad


async def test_api_calls_from_outside_the_list_are_refused(app, org_a: Org, org_b: Org) -> None:  # type: ignore[no-untyped-def]
    async with from_address(app, "203.0.113.9") as office:
        assert (await set_allowlist(office, org_a, [OFFICE])).status_code == 200
        assert (await office.get(ORG, headers=org_a.headers)).status_code == 200
    async with from_address(app, "198.51.100.7") as elsewhere:
        answer = await elsewhere.get(ORG, headers=org_a.headers)
        assert answer.status_code == 403 and "network" in answer.json()["detail"]
        assert (await elsewhere.get(ORG, headers=org_b.headers)).status_code == 200  # other orgs unaffected


async def test_tokens_and_sign_in_from_outside_the_list_are_refused(
    app, org_a: Org, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(org_a)
    async with from_address(app, "198.51.100.7") as laptop:
        tokens = await tokens_for(laptop, user)  # before the list exists
    async with from_address(app, "203.0.113.9") as office:
        assert (await set_allowlist(office, org_a, [OFFICE])).status_code == 200
    async with from_address(app, "198.51.100.7") as laptop:
        assert (await laptop.get(ORG, headers=bearer(tokens["access_token"]))).status_code == 403
        denied = await refresh(laptop, tokens["refresh_token"])
        assert denied.status_code == 403 and denied.json()["error"] == "access_denied"
        request = authorization()
        await sign_in(laptop, user, next_page=request.url)
        page = await laptop.get(request.url)
        assert page.status_code == 403 and "location" not in page.headers
    async with from_address(app, "203.0.113.9") as office:
        assert (await refresh(office, tokens["refresh_token"])).status_code == 200  # not spent by the refusal


async def test_a_super_admin_lifts_the_list_for_recovery_and_it_is_audited(
    app,
    org_a: Org,
    test_database: DatabaseUnderTest,  # type: ignore[no-untyped-def]
) -> None:
    async with from_address(app, "203.0.113.9") as office:
        assert (await set_allowlist(office, org_a, [OFFICE])).status_code == 200
    code, output = await keel_cli(test_database, "orgs", "lift-allowlist", org_a.slug)
    assert code == 0, output
    with psycopg.connect(test_database.admin_conninfo()) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM keel.platform_audit_events")]
    assert "organization.ip_allowlist_lifted" in actions
    async with from_address(app, "198.51.100.7") as elsewhere:
        # The CLI ran in its own process. With Redis it updates the shared copy; here (no Redis) this
        # process's copy must expire first: remove it, and the database answers.
        await get_shared_state().delete(f"org:policy:{org_a.id}")
        assert (await elsewhere.get(ORG, headers=org_a.headers)).status_code == 200
