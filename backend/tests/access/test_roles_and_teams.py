"""Custom roles and teams: managed by an Org Admin, audited, and effective at the member's next request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import MakeOrg, Org
from tests.identity.conftest import MakeUser, authorization_server, bearer, make_user, tokens_for

__all__ = ["authorization_server", "make_user"]  # fixtures used here

AUDIT = "/api/v1/audit-events"
AUDITOR = {"key": "auditor", "name": "Auditor", "permissions": ["audit:read"], "record_scope": "own"}


async def create_role(client: httpx.AsyncClient, org: Org, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/v1/roles", json=body, headers={**org.headers, "Idempotency-Key": body["key"]}
    )


async def patch_role(client: httpx.AsyncClient, org: Org, key: str, body: dict[str, Any]) -> httpx.Response:
    current = await client.get(f"/api/v1/roles/{key}", headers=org.headers)
    return await client.patch(
        f"/api/v1/roles/{key}", json=body, headers={**org.headers, "If-Match": current.headers["etag"]}
    )


async def audit_actions(client: httpx.AsyncClient, org: Org) -> list[str]:
    page = await client.get(AUDIT, params={"limit": 100}, headers=org.headers)
    return [e["action"] for e in page.json()["items"]]


async def test_an_org_admin_creates_changes_and_deletes_a_role_of_its_own(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    created = await create_role(client, org_a, AUDITOR)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "key": "auditor",
        "name": "Auditor",
        "built_in": False,
        "permissions": ["audit:read", "organization:read", "profile:own"],  # every role may see its org
        "record_scope": "own",
        "version": 1,
    }
    listed = (await client.get("/api/v1/roles", headers=org_a.headers)).json()
    assert [r["key"] for r in listed] == [
        "org_admin",
        "manager",
        "sales_rep",
        "finance",
        "support",
        "auditor",
    ]
    assert next(r for r in listed if r["key"] == "sales_rep")["record_scope"] == "own"

    changed = await patch_role(client, org_a, "auditor", {"permissions": ["audit:read", "audit:export"]})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
    assert "audit:export" in changed.json()["permissions"]

    assert (await client.delete("/api/v1/roles/auditor", headers=org_a.headers)).status_code == 204
    assert (await client.get("/api/v1/roles/auditor", headers=org_a.headers)).status_code == 404
    actions = await audit_actions(client, org_a)
    assert {"role.created", "role.updated", "role.deleted"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**AUDITOR, "key": "manager"}, 409),  # a built-in role's key
        ({**AUDITOR, "key": "Auditor"}, 422),
        ({**AUDITOR, "key": "a"}, 422),
        ({**AUDITOR, "permissions": ["audit:delete"]}, 422),  # not in the catalogue
        ({**AUDITOR, "record_scope": "everyone"}, 422),
        ({**AUDITOR, "name": "bad\x00name"}, 422),
        ({**AUDITOR, "owner": "me"}, 422),
    ],
)
async def test_a_bad_role_is_refused_and_nothing_is_saved(
    client: httpx.AsyncClient, org_a: Org, body: dict[str, Any], status: int
) -> None:
    answer = await create_role(client, org_a, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert len((await client.get("/api/v1/roles", headers=org_a.headers)).json()) == 5


async def test_roles_refuse_duplicates_built_in_changes_and_stale_writes(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    assert (await create_role(client, org_a, AUDITOR)).status_code == 201
    again = await client.post(
        "/api/v1/roles", json=AUDITOR, headers={**org_a.headers, "Idempotency-Key": "second"}
    )
    assert again.status_code == 409
    assert (await patch_role(client, org_a, "manager", {"name": "Boss"})).status_code == 409
    assert (await client.delete("/api/v1/roles/org_admin", headers=org_a.headers)).status_code == 409
    unconditional = await client.patch("/api/v1/roles/auditor", json={"name": "X"}, headers=org_a.headers)
    assert unconditional.status_code == 428
    stale = await client.patch(
        "/api/v1/roles/auditor", json={"name": "X"}, headers={**org_a.headers, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert (await client.get("/api/v1/roles/auditor", headers=org_a.headers)).json()["name"] == "Auditor"


async def test_a_role_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    await create_role(client, org_a, AUDITOR)
    member = await make_user(org_a, "auditor")
    refused = await client.delete("/api/v1/roles/auditor", headers=org_a.headers)
    assert refused.status_code == 409 and "1 member" in refused.json()["detail"]
    moved = await client.patch(
        f"/api/v1/members/{member.id}", json={"role": "support"}, headers=org_a.headers
    )
    assert moved.status_code == 200
    invited = await client.post(
        "/api/v1/invitations",
        json={"email": "new@example.com", "role": "auditor"},
        headers={**org_a.headers, "Idempotency-Key": "inv"},
    )
    assert invited.status_code == 201
    assert (await client.delete("/api/v1/roles/auditor", headers=org_a.headers)).status_code == 409


async def test_members_and_invitations_take_only_roles_the_organisation_has(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    await create_role(client, org_b, AUDITOR)  # another organisation's role is no role here
    member = await make_user(org_a)
    refused = await client.patch(
        f"/api/v1/members/{member.id}", json={"role": "auditor"}, headers=org_a.headers
    )
    assert refused.status_code == 422
    invited = await client.post(
        "/api/v1/invitations",
        json={"email": "new@example.com", "role": "auditor"},
        headers={**org_a.headers, "Idempotency-Key": "inv"},
    )
    assert invited.status_code == 422
    await create_role(client, org_a, AUDITOR)
    granted = await client.patch(
        f"/api/v1/members/{member.id}", json={"role": "auditor"}, headers=org_a.headers
    )
    assert granted.status_code == 200 and granted.json()["role"] == "auditor"


async def test_a_permission_taken_from_a_role_stops_working_at_the_next_request(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    await create_role(client, org_a, AUDITOR)
    member = await make_user(org_a, "auditor")
    token = bearer((await tokens_for(client, member))["access_token"])
    assert (await client.get(AUDIT, headers=token)).status_code == 200
    assert (await client.get("/api/v1/api-keys", headers=token)).status_code == 403

    assert (await patch_role(client, org_a, "auditor", {"permissions": []})).status_code == 200
    refused = await client.get(AUDIT, headers=token)  # the same token, the next request
    assert refused.status_code == 403 and "audit:read" in refused.json()["detail"]

    granted = await patch_role(client, org_a, "auditor", {"permissions": ["audit:read", "api_keys:read"]})
    assert granted.status_code == 200
    assert (await client.get(AUDIT, headers=token)).status_code == 200
    assert (await client.get("/api/v1/api-keys", headers=token)).status_code == 200


@pytest.mark.slow
def test_a_role_changed_through_one_process_is_enforced_by_another(
    two_api_processes: list[str], make_org: MakeOrg, make_user: MakeUser, client: httpx.AsyncClient
) -> None:
    first, second = two_api_processes

    async def prepare() -> tuple[Org, dict[str, str]]:
        org = await make_org("Shared")
        await create_role(client, org, AUDITOR)
        member = await make_user(org, "auditor")
        return org, bearer((await tokens_for(client, member))["access_token"])

    org, token = asyncio.run(prepare())
    assert httpx.get(f"{second}{AUDIT}", headers=token).status_code == 200  # cached by the second
    current = httpx.get(f"{first}/api/v1/roles/auditor", headers=org.headers)
    changed = httpx.patch(
        f"{first}/api/v1/roles/auditor",
        json={"permissions": []},
        headers={**org.headers, "If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200
    assert httpx.get(f"{second}{AUDIT}", headers=token).status_code == 403


async def test_teams_are_managed_by_an_org_admin_and_audited(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    rep, outsider = await make_user(org_a), await make_user(org_b)
    created = await client.post(
        "/api/v1/teams", json={"name": "North"}, headers={**org_a.headers, "Idempotency-Key": "t"}
    )
    assert created.status_code == 201 and created.json()["member_ids"] == []
    team = created.json()["id"]
    for _ in range(2):  # putting someone in twice changes nothing
        added = await client.put(f"/api/v1/teams/{team}/members/{rep.id}", headers=org_a.headers)
        assert added.status_code == 204
    foreign = await client.put(f"/api/v1/teams/{team}/members/{outsider.id}", headers=org_a.headers)
    assert foreign.status_code == 404  # not a member of this organisation
    assert (await client.get(f"/api/v1/teams/{team}", headers=org_a.headers)).json()["member_ids"] == [
        str(rep.id)
    ]
    assert (await client.get(f"/api/v1/teams/{team}", headers=org_b.headers)).status_code == 404
    duplicate = await client.post(
        "/api/v1/teams", json={"name": "North"}, headers={**org_a.headers, "Idempotency-Key": "t2"}
    )
    assert duplicate.status_code == 409
    renamed = await client.patch(f"/api/v1/teams/{team}", json={"name": "Nord"}, headers=org_a.headers)
    assert renamed.json()["name"] == "Nord"
    removed = await client.delete(f"/api/v1/teams/{team}/members/{rep.id}", headers=org_a.headers)
    assert removed.status_code == 204
    assert (await client.delete(f"/api/v1/teams/{team}", headers=org_a.headers)).status_code == 204
    assert (await client.get("/api/v1/teams", headers=org_a.headers)).json() == []
    actions = await audit_actions(client, org_a)
    for action in (
        "team.created",
        "team.member_added",
        "team.renamed",
        "team.member_removed",
        "team.deleted",
    ):
        assert action in actions


async def test_changes_made_through_an_app_record_the_user_and_the_client(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    admin = await make_user(org_a, "org_admin")
    token = bearer((await tokens_for(client, admin))["access_token"])
    made = await client.post("/api/v1/teams", json={"name": "N"}, headers={**token, "Idempotency-Key": "t"})
    assert made.status_code == 201
    by_key = await client.post(
        "/api/v1/teams", json={"name": "S"}, headers={**org_a.headers, "Idempotency-Key": "t2"}
    )
    assert by_key.status_code == 201
    events = (await client.get(AUDIT, params={"action": "team.created"}, headers=token)).json()["items"]
    by_kind = {e["actor"].split(":")[0]: (e["client_id"], e["category"]) for e in events}
    assert by_kind == {"user": ("test-web", "security"), "api_key": (None, "security")}
    assert f"user:{admin.id}" in {e["actor"] for e in events}


async def test_leaving_the_organisation_leaves_its_teams(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    team = (
        await client.post(
            "/api/v1/teams", json={"name": "N"}, headers={**org_a.headers, "Idempotency-Key": "t"}
        )
    ).json()["id"]
    await client.put(f"/api/v1/teams/{team}/members/{rep.id}", headers=org_a.headers)
    assert (await client.delete(f"/api/v1/members/{rep.id}", headers=org_a.headers)).status_code == 204
    assert (await client.get(f"/api/v1/teams/{team}", headers=org_a.headers)).json()["member_ids"] == []
