"""Assignment rules: tried in order for a new record created without an owner by someone who sees the
whole organisation; round-robin within a team, by country, by deal amount band; the record keeps the
rule that chose its owner."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here
RULES = "/api/v1/assignment-rules"
NOBODY = "00000000-0000-0000-0000-000000000001"


async def team_of(client: httpx.AsyncClient, org: Org, *people: Any) -> str:
    team = await made(client, org.headers, "/api/v1/teams", name=f"T{len(people)}{people[0].id}")
    for person in people:
        added = await client.put(f"/api/v1/teams/{team['id']}/members/{person.id}", headers=org.headers)
        assert added.status_code == 204
    return str(team["id"])


async def test_leads_go_round_the_team_and_by_country_in_rule_order(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    reps = sorted([await make_user(org_a) for _ in range(3)], key=lambda p: str(p.id))
    germany = await make_user(org_a)
    team = await team_of(client, org_a, *reps)
    everyone = await made(client, org_a.headers, RULES, name="Inbound", record_type="lead", team_id=team)
    dach = await made(
        client,
        org_a.headers,
        RULES,
        name="DACH",
        record_type="lead",
        countries=["DE", "AT", "CH"],
        owner_id=str(germany.id),
        position=1,
    )
    listed = (await client.get(RULES, headers=org_a.headers)).json()
    assert [(r["name"], r["position"]) for r in listed] == [("DACH", 1), ("Inbound", 2)]

    owners, rules = [], []
    for n, country in enumerate(["US", "DE", "FR", "GB", "AT", "US"]):
        lead = await made(client, org_a.headers, "/api/v1/leads", company=f"C{n}", country=country)
        owners.append(lead["owner_id"])
        rules.append(lead["assignment_rule_id"])
    ids = [str(r.id) for r in reps]
    assert owners == [ids[0], str(germany.id), ids[1], ids[2], str(germany.id), ids[0]]
    assert rules == [everyone["id"], dach["id"], everyone["id"], everyone["id"], dach["id"], everyone["id"]]
    # An owner named by the creator wins; so does a Sales Rep, whose records are their own.
    named = await made(client, org_a.headers, "/api/v1/leads", company="N", owner_id=ids[2])
    assert (named["owner_id"], named["assignment_rule_id"]) == (ids[2], None)
    rep_token = await token_of(client, reps[1])
    own = await made(client, rep_token, "/api/v1/leads", company="Mine", country="DE")
    assert (own["owner_id"], own["assignment_rule_id"]) == (ids[1], None)


async def test_deals_are_assigned_by_amount_band_in_their_currency(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    small, large, anyone = await make_user(org_a), await make_user(org_a), await make_user(org_a)
    await made(
        client,
        org_a.headers,
        RULES,
        name="Enterprise",
        record_type="deal",
        currency="EUR",
        min_amount_minor=1_000_000,
        owner_id=str(large.id),
    )
    await made(
        client,
        org_a.headers,
        RULES,
        name="SMB",
        record_type="deal",
        currency="EUR",
        max_amount_minor=999_999,
        owner_id=str(small.id),
    )
    fallback = await made(
        client, org_a.headers, RULES, name="Rest", record_type="deal", owner_id=str(anyone.id)
    )
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(anyone.id)))[
        "id"
    ]

    async def owner_of(amount: int, currency: str = "EUR") -> str:
        deal = await made(
            client,
            org_a.headers,
            "/api/v1/deals",
            name=f"{amount}{currency}",
            account_id=account,
            amount_minor=amount,
            currency=currency,
        )
        return str(deal["owner_id"])

    assert await owner_of(2_000_000) == str(large.id)
    assert await owner_of(1_000_000) == str(large.id)  # the band includes its ends
    assert await owner_of(999_999) == str(small.id)
    assert await owner_of(5_000_000, "USD") == str(anyone.id)  # another currency: no band matches
    switched = await client.patch(
        f"{RULES}/{fallback['id']}", json={"active": False}, headers={**org_a.headers, "If-Match": '"1"'}
    )
    assert switched.status_code == 200
    # No rule matches and an API key owns nothing: the owner must be named.
    unowned = await post(client, org_a.headers, "/api/v1/deals", name="X", account_id=account, currency="USD")
    assert unowned.status_code == 422


async def test_a_rule_in_use_keeps_its_member_and_team_and_its_records_forget_it_when_deleted(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    team = await team_of(client, org_a, rep)
    by_owner = await made(
        client, org_a.headers, RULES, name="To rep", record_type="account", owner_id=str(rep.id)
    )
    by_team = await made(client, org_a.headers, RULES, name="To team", record_type="contact", team_id=team)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme")
    assert account["assignment_rule_id"] == by_owner["id"]
    refused = await client.delete(f"/api/v1/teams/{team}", headers=org_a.headers)
    assert refused.status_code == 409 and "To team" in refused.json()["detail"]
    assert (await client.delete(f"{RULES}/{by_team['id']}", headers=org_a.headers)).status_code == 204
    await client.patch(
        f"/api/v1/accounts/{account['id']}",
        json={"owner_id": None},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert (await client.delete(f"{RULES}/{by_owner['id']}", headers=org_a.headers)).status_code == 204
    kept = (await client.get(f"/api/v1/accounts/{account['id']}", headers=org_a.headers)).json()
    assert (kept["owner_id"], kept["assignment_rule_id"]) == (str(rep.id), None)
    trail = await client.get(
        "/api/v1/audit-events", params={"entity_type": "assignment_rule"}, headers=org_a.headers
    )
    assert {e["action"] for e in trail.json()["items"]} == {
        "assignment_rule.created",
        "assignment_rule.deleted",
    }


async def test_a_member_a_rule_gives_records_to_stays_until_the_rule_changes(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    rule = await made(client, org_a.headers, RULES, name="To rep", record_type="lead", owner_id=str(rep.id))
    refused = await client.delete(f"/api/v1/members/{rep.id}", headers=org_a.headers)
    assert refused.status_code == 409 and "To rep" in refused.json()["detail"]
    assert (await client.delete(f"{RULES}/{rule['id']}", headers=org_a.headers)).status_code == 204
    assert (await client.delete(f"/api/v1/members/{rep.id}", headers=org_a.headers)).status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {"name": "R", "record_type": "lead"},  # gives to nobody
        {"name": "R", "record_type": "lead", "owner_id": "ME", "team_id": NOBODY},
        {"name": "R", "record_type": "lead", "owner_id": NOBODY},
        {"name": "R", "record_type": "lead", "team_id": NOBODY},
        {"name": "R", "record_type": "ticket", "owner_id": "ME"},
        {"name": "R", "record_type": "lead", "countries": ["Germany"], "owner_id": "ME"},
        {"name": "R", "record_type": "lead", "currency": "EUR", "min_amount_minor": 1, "owner_id": "ME"},
        {"name": "R", "record_type": "deal", "min_amount_minor": 1, "owner_id": "ME"},  # no currency
        {
            "name": "R",
            "record_type": "deal",
            "currency": "EUR",
            "min_amount_minor": 9,
            "max_amount_minor": 1,
            "owner_id": "ME",
        },
        {"name": "R", "record_type": "lead", "owner_id": "ME", "position": 0},
    ],
)
async def test_bad_rules_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, body: dict[str, Any]
) -> None:
    rep = await make_user(org_a)
    body = {k: str(rep.id) if v == "ME" else v for k, v in body.items()}
    answer = await post(client, org_a.headers, RULES, **body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get(RULES, headers=org_a.headers)).json() == []


async def test_rules_are_the_organisations_own_and_only_admins_change_them(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    rep, stranger = await make_user(org_a), await make_user(org_b)
    theirs = await made(client, org_b.headers, RULES, name="B", record_type="lead", owner_id=str(stranger.id))
    assert (await client.get(RULES, headers=org_a.headers)).json() == []
    patched = await client.patch(
        f"{RULES}/{theirs['id']}", json={"name": "X"}, headers={**org_a.headers, "If-Match": '"1"'}
    )
    assert patched.status_code == 404
    assert (await client.delete(f"{RULES}/{theirs['id']}", headers=org_a.headers)).status_code == 404
    foreign_owner = await post(
        client, org_a.headers, RULES, name="R", record_type="lead", owner_id=str(stranger.id)
    )
    assert foreign_owner.status_code == 422
    manager = await token_of(client, await make_user(org_a, "manager"))
    assert (await client.get(RULES, headers=manager)).status_code == 200
    assert (
        await post(client, manager, RULES, name="R", record_type="lead", owner_id=str(rep.id))
    ).status_code == 403
    assert (await client.get(RULES, headers=await token_of(client, rep))).status_code == 403
