"""Accounts: created, read, changed and deleted within the caller's record scope; bad input refused with
nothing written; every change audited."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from keel.accounts.repository import account_by_id
from keel.accounts.schemas import AccountOut
from keel.core.uow import UnitOfWork
from tests.conftest import Org
from tests.deals.test_deals import made as created
from tests.identity.conftest import MakeUser, Person, authorization_server, bearer, make_user, tokens_for
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here
ACCOUNTS = "/api/v1/accounts"


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(ACCOUNTS, json=body, headers={**headers, "Idempotency-Key": ascii(body)[:200]})


async def token(client: httpx.AsyncClient, person: Person) -> dict[str, str]:
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as browser:
        return bearer((await tokens_for(browser, person))["access_token"])


async def test_an_account_is_created_read_changed_and_deleted_with_its_audit_trail(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    made = await create(
        client,
        org_a.headers,
        name="Acme GmbH",
        domain="WWW.Acme.DE",
        country="DE",
        size="51-200",
        owner_id=str(rep.id),
        tags=["vip", "dach", "vip"],
    )
    assert made.status_code == 201, made.text
    account = made.json()
    assert account["domain"] == "acme.de" and account["tags"] == ["dach", "vip"]
    assert account["lifecycle_stage"] == "prospect" and made.headers["etag"] == '"1"'
    url = f"{ACCOUNTS}/{account['id']}"
    changed = await client.patch(
        url, json={"lifecycle_stage": "customer"}, headers={**org_a.headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = await client.patch(url, json={"name": "X"}, headers={**org_a.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    for params, expected in (
        ({"lifecycle_stage": "customer"}, 1),
        ({"lifecycle_stage": "churned"}, 0),
        ({"tag": "vip"}, 1),
        ({"domain": "acme.de"}, 1),
        ({"owner_id": str(org_a.id)}, 0),
    ):
        listed = await client.get(ACCOUNTS, params=params, headers=org_a.headers)
        assert len(listed.json()["items"]) == expected, params
    assert (await client.delete(url, headers=org_a.headers)).status_code == 204
    assert (await client.get(url, headers=org_a.headers)).status_code == 404
    events = await client.get(
        "/api/v1/audit-events", params={"entity_id": account["id"]}, headers=org_a.headers
    )
    actions = [e["action"] for e in events.json()["items"]]
    assert actions == ["account.deleted", "account.updated", "account.created"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "A", "domain": "https://acme.com/about"},
        {"name": "A", "domain": "acme"},
        {"name": "A", "country": "de"},
        {"name": "A", "size": "huge"},
        {"name": "A", "lifecycle_stage": "lead"},
        {"name": "A", "tags": ["a,b"]},
        {"name": "A", "tags": [f"t{n}" for n in range(21)]},
        {"name": "bad\x00name"},
        {"name": ""},
        {"name": "A", "owner_id": "00000000-0000-0000-0000-000000000001"},  # no such member
        {"name": "A", "unknown": 1},
        {"name": "A"},  # an API key owns nothing: owner_id is needed
    ],
)
async def test_bad_accounts_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, org_a: Org, body: dict[str, Any]
) -> None:
    answer = await create(client, org_a.headers, **body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get(ACCOUNTS, headers=org_a.headers)).json()["items"] == []


async def test_a_sales_rep_works_only_on_their_own_accounts(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    mine_token, other_token = await token(client, rep), await token(client, other)
    mine = (await create(client, mine_token, name="Mine")).json()
    assert mine["owner_id"] == str(rep.id)  # the caller owns what they create
    theirs = (await create(client, other_token, name="Theirs")).json()
    for_other = await create(client, mine_token, name="For them", owner_id=str(other.id))
    assert for_other.status_code == 403
    listed = (await client.get(ACCOUNTS, headers=mine_token)).json()["items"]
    assert [a["id"] for a in listed] == [mine["id"]]
    assert (await client.get(f"{ACCOUNTS}/{theirs['id']}", headers=mine_token)).status_code == 404
    patch_theirs = await client.patch(
        f"{ACCOUNTS}/{theirs['id']}", json={"name": "Taken"}, headers={**mine_token, "If-Match": '"1"'}
    )
    assert patch_theirs.status_code == 404
    give_away = await client.patch(
        f"{ACCOUNTS}/{mine['id']}",
        json={"owner_id": str(other.id)},
        headers={**mine_token, "If-Match": '"1"'},
    )
    assert give_away.status_code == 403
    assert (await client.delete(f"{ACCOUNTS}/{theirs['id']}", headers=mine_token)).status_code == 404
    assert (await client.get(f"{ACCOUNTS}/{theirs['id']}", headers=org_a.headers)).json()["name"] == "Theirs"


async def test_a_manager_hands_accounts_over_within_their_team_only(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    manager, rep, teammate, outsider = (
        await make_user(org_a, "manager"),
        await make_user(org_a),
        await make_user(org_a),
        await make_user(org_a),
    )
    team = (
        await client.post(
            "/api/v1/teams", json={"name": "N"}, headers={**org_a.headers, "Idempotency-Key": "t"}
        )
    ).json()["id"]
    for person in (manager, rep, teammate):
        await client.put(f"/api/v1/teams/{team}/members/{person.id}", headers=org_a.headers)
    account = (await create(client, org_a.headers, name="Acme", owner_id=str(rep.id))).json()
    boss = await token(client, manager)
    assert [a["id"] for a in (await client.get(ACCOUNTS, headers=boss)).json()["items"]] == [account["id"]]
    url = f"{ACCOUNTS}/{account['id']}"
    moved = await client.patch(url, json={"owner_id": str(teammate.id)}, headers={**boss, "If-Match": '"1"'})
    assert moved.status_code == 200
    outside = await client.patch(
        url, json={"owner_id": str(outsider.id)}, headers={**boss, "If-Match": '"2"'}
    )
    assert outside.status_code == 403  # refused by the database's record-scope policy
    assert outside.headers["content-type"] == "application/problem+json"
    assert (await client.get(url, headers=org_a.headers)).json()["owner_id"] == str(teammate.id)


async def test_accounts_stay_inside_their_organisation(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    account = (await create(client, org_a.headers, name="Acme", owner_id=str(rep.id))).json()
    assert (await client.get(f"{ACCOUNTS}/{account['id']}", headers=org_b.headers)).status_code == 404
    assert (await client.get(ACCOUNTS, headers=org_b.headers)).json()["items"] == []
    assert (await client.delete(f"{ACCOUNTS}/{account['id']}", headers=org_b.headers)).status_code == 404


async def test_a_member_with_accounts_is_not_removed_until_they_are_handed_over(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, successor = await make_user(org_a), await make_user(org_a)
    account = (await create(client, org_a.headers, name="Acme", owner_id=str(rep.id))).json()
    refused = await client.delete(f"/api/v1/members/{rep.id}", headers=org_a.headers)
    assert refused.status_code == 409 and "1 account" in refused.json()["detail"]
    await client.patch(
        f"{ACCOUNTS}/{account['id']}",
        json={"owner_id": str(successor.id)},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert (await client.delete(f"/api/v1/members/{rep.id}", headers=org_a.headers)).status_code == 204


async def test_the_list_and_the_record_written_by_postgresql_are_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    for key, kind in (("tier", "select"), ("seats", "number"), ("renewal", "date"), ("partner", "boolean")):
        options = {"options": ["gold", "silver"]} if kind == "select" else {}
        field = {"record_type": "account", "key": key, "label": key.title(), "type": kind, **options}
        await created(client, org_a.headers, "/api/v1/custom-fields", **field)
    shapes: list[dict[str, Any]] = [
        {"name": "Bare", "owner_id": str(rep.id)},  # every optional field unset
        {
            "name": "Acme GmbH",
            "domain": "acme.de",
            "industry": "Machinery",
            "size": "51-200",
            "country": "DE",
            "lifecycle_stage": "customer",
            "owner_id": str(rep.id),
            "assignee_id": str(rep.id),
            "tags": ["vip", "dach"],
            "custom": {"tier": "gold", "seats": 250, "renewal": "2027-03-31", "partner": True},
            "external_id": "SF-1",
        },
        {"name": 'Müller & Söhne "Ü"', "owner_id": str(rep.id), "tags": ["x"], "custom": {"seats": 12.5}},
    ]
    for body in shapes:
        made = await create(client, org_a.headers, **body)
        assert made.status_code == 201, made.text
    changed = await client.patch(  # a changed record: version 2, updated_at after created_at
        f"{ACCOUNTS}/{made.json()['id']}",
        json={"industry": "Tools", "custom": {"partner": False}},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    sent = []
    for order in ({}, {"sort": "name"}):
        listed = (await client.get(ACCOUNTS, params={"limit": 2, **order}, headers=org_a.headers)).json()
        rest = await client.get(
            ACCOUNTS, params={"limit": 2, "cursor": listed["next_cursor"], **order}, headers=org_a.headers
        )
        assert rest.json()["next_cursor"] is None
        items = listed["items"] + rest.json()["items"]
        assert len(items) == 3
        sent += items
    assert [i["name"] for i in sent[3:]] == ["Acme GmbH", "Bare", 'Müller & Söhne "Ü"']
    for item in sent[:3]:
        one = await client.get(f"{ACCOUNTS}/{item['id']}", headers=org_a.headers)
        assert one.status_code == 200 and one.headers["etag"] == f'"{item["version"]}"'
        assert one.json() == item
        sent.append(one.json())
    record = next(r for r in sent[6:] if r["id"] == changed.json()["id"])
    assert AccountOut.model_validate(record) == AccountOut.model_validate(changed.json())  # as the write said

    async def model_of(uow: UnitOfWork, account_id: UUID) -> AccountOut:
        account = await account_by_id(uow.session, account_id)
        assert account is not None
        return AccountOut.model_validate(account)

    await assert_sent_as_the_model(org_a.id, sent, model_of)
