"""Deals: an amount in minor units with its currency at a stage of a pipeline; every stage change kept;
lost deals say why; winning makes the account a customer; amounts only for those allowed to see them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from keel.access.permissions import Permission
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.deals.repository import deal_by_id, outcomes_of_stages
from keel.deals.schemas import DealOut
from keel.deals.service import deal_out
from tests.conftest import Org
from tests.identity.conftest import MakeUser, authorization_server, bearer, make_user, tokens_for
from tests.json_reads import assert_sent_as_the_model

__all__ = ["authorization_server", "make_user"]  # fixtures used here
DEALS = "/api/v1/deals"
NOBODY = "00000000-0000-0000-0000-000000000001"


async def post(client: httpx.AsyncClient, headers: dict[str, str], url: str, **body: Any) -> httpx.Response:
    return await client.post(url, json=body, headers={**headers, "Idempotency-Key": str(body)[:200]})


async def made(client: httpx.AsyncClient, headers: dict[str, str], url: str, **body: Any) -> dict[str, Any]:
    answer = await post(client, headers, url, **body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def token_of(client: httpx.AsyncClient, person: Any) -> dict[str, str]:
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as browser:
        return bearer((await tokens_for(browser, person))["access_token"])


async def stages(client: httpx.AsyncClient, org: Org) -> dict[str, str]:
    """The default pipeline's stage ids by name."""
    pipelines = (await client.get("/api/v1/pipelines", headers=org.headers)).json()
    (pipeline,) = [p for p in pipelines if p["is_default"]]
    return {s["name"]: s["id"] for s in pipeline["stages"]}


async def move(
    client: httpx.AsyncClient, headers: dict[str, str], deal: dict[str, Any], **change: Any
) -> httpx.Response:
    current = await client.get(f"{DEALS}/{deal['id']}", headers=headers)
    return await client.patch(
        f"{DEALS}/{deal['id']}", json=change, headers={**headers, "If-Match": current.headers["etag"]}
    )


async def test_a_deal_moves_through_its_pipeline_with_every_step_kept(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    stage = await stages(client, org_a)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    deal = await made(
        client,
        org_a.headers,
        DEALS,
        name="Acme renewal",
        account_id=account["id"],
        amount_minor=1_250_000,
        expected_close_date="2027-03-31",
        source="referral",
        owner_id=str(rep.id),
    )
    # The default pipeline, its first open stage, the organisation's currency.
    assert (deal["stage_id"], deal["status"], deal["currency"]) == (stage["Qualification"], "open", "EUR")
    assert deal["amount_minor"] == 1_250_000 and deal["closed_at"] is None

    assert (await move(client, org_a.headers, deal, stage_id=stage["Proposal"])).status_code == 200
    no_reason = await move(client, org_a.headers, deal, stage_id=stage["Lost"])
    assert no_reason.status_code == 422 and "lost_reason" in no_reason.json()["detail"]
    lost = await move(client, org_a.headers, deal, stage_id=stage["Lost"], lost_reason="Chose a rival")
    assert lost.status_code == 200, lost.text
    assert lost.json()["status"] == "lost" and lost.json()["closed_at"] is not None
    reopened = (await move(client, org_a.headers, deal, stage_id=stage["Negotiation"])).json()
    assert reopened["status"] == "open" and reopened["lost_reason"] is None and reopened["closed_at"] is None
    assert (await client.get(f"/api/v1/accounts/{account['id']}", headers=org_a.headers)).json()[
        "lifecycle_stage"
    ] == "prospect"
    won = (await move(client, org_a.headers, deal, stage_id=stage["Won"])).json()
    assert won["status"] == "won" and won["version"] == 5

    history = (await client.get(f"{DEALS}/{deal['id']}/stage-changes", headers=org_a.headers)).json()
    names = {v: k for k, v in stage.items()}
    assert [(names.get(h["from_stage_id"]), names[h["to_stage_id"]]) for h in history] == [
        (None, "Qualification"),
        ("Qualification", "Proposal"),
        ("Proposal", "Lost"),
        ("Lost", "Negotiation"),
        ("Negotiation", "Won"),
    ]
    customer = (await client.get(f"/api/v1/accounts/{account['id']}", headers=org_a.headers)).json()
    assert customer["lifecycle_stage"] == "customer" and customer["version"] == 2
    trail = await client.get(
        "/api/v1/audit-events", params={"entity_id": account["id"]}, headers=org_a.headers
    )
    became = trail.json()["items"][0]
    assert became["action"] == "account.became_customer" and became["after"]["won_deal_id"] == deal["id"]
    actions = await client.get(
        "/api/v1/audit-events", params={"entity_id": deal["id"]}, headers=org_a.headers
    )
    assert [e["action"] for e in actions.json()["items"]] == ["deal.updated"] * 4 + ["deal.created"]

    assert (await client.delete(f"{DEALS}/{deal['id']}", headers=org_a.headers)).status_code == 204
    assert (await client.get(f"{DEALS}/{deal['id']}", headers=org_a.headers)).status_code == 404


async def test_deals_are_listed_by_owner_stage_status_tag_and_close_date(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    stage = await stages(client, org_a)
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    early = await made(
        client,
        org_a.headers,
        DEALS,
        name="Early",
        account_id=account,
        expected_close_date="2027-01-15",
        tags=["upsell"],
        owner_id=str(rep.id),
    )
    late = await made(
        client,
        org_a.headers,
        DEALS,
        name="Late",
        account_id=account,
        expected_close_date="2027-06-15",
        stage_id=stage["Won"],
        owner_id=str(other.id),
    )

    async def names(**params: str) -> list[str]:
        page = await client.get(DEALS, params=params, headers=org_a.headers)
        assert page.status_code == 200, page.text
        return [d["name"] for d in page.json()["items"]]

    assert await names() == ["Late", "Early"]
    assert await names(owner_id=str(rep.id)) == ["Early"]
    assert await names(stage_id=stage["Won"]) == ["Late"]
    assert await names(status="open") == ["Early"] and await names(status="won") == ["Late"]
    assert await names(tag="upsell") == ["Early"]
    assert await names(close_from="2027-02-01") == ["Late"]
    assert await names(close_from="2027-01-01", close_to="2027-01-31") == ["Early"]
    assert await names(account_id=account, limit="1") == ["Late"]
    backwards = await client.get(
        DEALS, params={"close_from": "2027-06-01", "close_to": "2027-01-01"}, headers=org_a.headers
    )
    assert backwards.status_code == 400 and backwards.headers["content-type"] == "application/problem+json"
    assert {early["id"], late["id"]} == {
        d["id"] for d in (await client.get(DEALS, headers=org_a.headers)).json()["items"]
    }


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"currency": "ABC"}, 422),
        ({"currency": "DEM"}, 422),  # replaced by the euro in 2002
        ({"currency": "EURO"}, 422),
        ({"currency": "eur"}, 422),
        ({"amount_minor": -1}, 422),
        ({"amount_minor": 10**16}, 422),
        ({"amount_minor": 12.5}, 422),
        ({"stage_id": NOBODY}, 422),
        ({"pipeline_id": NOBODY}, 422),
        ({"account_id": NOBODY}, 422),
        ({"primary_contact_id": NOBODY}, 422),
        ({"lost_reason": "too early"}, 422),  # the deal is open
        ({"name": ""}, 422),
        ({"name": "x" * 201}, 422),
        ({"expected_close_date": "31/03/2027"}, 422),
        ({"owner_id": NOBODY}, 422),
    ],
)
async def test_bad_deals_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, change: dict[str, Any], status: int
) -> None:
    rep = await make_user(org_a)
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    body = {"name": "Deal", "account_id": account, "owner_id": str(rep.id), **change}
    answer = await post(client, org_a.headers, DEALS, **body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await client.get(DEALS, headers=org_a.headers)).json()["items"] == []


async def test_a_stage_must_belong_to_the_deals_pipeline_and_organisation(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser, admin: psycopg.Connection
) -> None:
    rep = await make_user(org_a)
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    other = await made(
        client,
        org_a.headers,
        "/api/v1/pipelines",
        name="Renewals",
        stages=[{"name": "Ask", "probability": 50}, {"name": "Signed", "probability": 100, "outcome": "won"}],
    )
    default = await stages(client, org_a)
    deal = await made(client, org_a.headers, DEALS, name="D", account_id=account, owner_id=str(rep.id))
    foreign_stage = (await stages(client, org_b))["Won"]
    for change in (
        {"stage_id": other["stages"][0]["id"], "pipeline_id": deal["pipeline_id"]},  # another pipeline's
        {"pipeline_id": other["id"], "stage_id": default["Proposal"]},
        {"stage_id": foreign_stage},  # another organisation's
    ):
        refused = await move(client, org_a.headers, deal, **change)
        assert refused.status_code == 422, (change, refused.text)
    # Naming only the other pipeline starts the deal at its first open stage; naming the stage is enough.
    moved = (await move(client, org_a.headers, deal, pipeline_id=other["id"])).json()
    assert (moved["pipeline_id"], moved["stage_id"]) == (other["id"], other["stages"][0]["id"])
    signed = (await move(client, org_a.headers, deal, stage_id=other["stages"][1]["id"])).json()
    assert signed["status"] == "won"
    # The database holds it too: a stage is named with its pipeline.
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        admin.execute("UPDATE keel.deals SET stage_id = %s WHERE id = %s", [default["Proposal"], deal["id"]])


async def test_another_organisations_deals_cannot_be_read_moved_or_deleted(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser
) -> None:
    stranger = await make_user(org_b)
    account = await made(client, org_b.headers, "/api/v1/accounts", name="B", owner_id=str(stranger.id))
    theirs = await made(
        client, org_b.headers, DEALS, name="B deal", account_id=account["id"], owner_id=str(stranger.id)
    )
    url = f"{DEALS}/{theirs['id']}"
    assert (await client.get(url, headers=org_a.headers)).status_code == 404
    assert (await client.get(f"{url}/stage-changes", headers=org_a.headers)).status_code == 404
    patched = await client.patch(url, json={"name": "Mine"}, headers={**org_a.headers, "If-Match": '"1"'})
    assert patched.status_code == 404
    assert (await client.delete(url, headers=org_a.headers)).status_code == 404
    # Nor can a deal of org A be opened on org B's account.
    refused = await post(client, org_a.headers, DEALS, name="X", account_id=account["id"], owner_id=NOBODY)
    assert refused.status_code == 422
    assert (await client.get(url, headers=org_b.headers)).json()["name"] == "B deal"


async def test_support_sees_deals_without_amounts_and_finance_reads_but_never_edits(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    deal = await made(
        client, org_a.headers, DEALS, name="Big", account_id=account, amount_minor=9_900, owner_id=str(rep.id)
    )
    support = await token_of(client, await make_user(org_a, "support"))
    finance = await token_of(client, await make_user(org_a, "finance"))
    seen = (await client.get(f"{DEALS}/{deal['id']}", headers=support)).json()
    assert seen["name"] == "Big" and (seen["amount_minor"], seen["currency"]) == (None, None)
    listed = (await client.get(DEALS, headers=support)).json()["items"]
    assert [(d["amount_minor"], d["currency"]) for d in listed] == [(None, None)]
    assert "9900" not in (await client.get(DEALS, headers=support)).text
    read = (await client.get(f"{DEALS}/{deal['id']}", headers=finance)).json()
    assert (read["amount_minor"], read["currency"]) == (9_900, "EUR")
    for token in (support, finance):
        changed = await client.patch(
            f"{DEALS}/{deal['id']}", json={"amount_minor": 1}, headers={**token, "If-Match": '"1"'}
        )
        assert changed.status_code == 403
        assert (await post(client, token, DEALS, name="N", account_id=account)).status_code == 403


async def test_a_reps_win_makes_the_account_a_customer_even_when_another_rep_now_owns_it(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    token = await token_of(client, rep)
    stage = await stages(client, org_a)
    account = await made(client, token, "/api/v1/accounts", name="Acme")
    deal = await made(client, token, DEALS, name="Mine", account_id=account["id"])
    assert deal["owner_id"] == str(rep.id) and deal["amount_minor"] == 0
    handed = await client.patch(
        f"/api/v1/accounts/{account['id']}",
        json={"owner_id": str(other.id)},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert handed.status_code == 200, handed.text
    assert (await client.get(f"/api/v1/accounts/{account['id']}", headers=token)).status_code == 404
    won = await move(client, token, deal, stage_id=stage["Won"])
    assert won.status_code == 200, won.text
    after = (await client.get(f"/api/v1/accounts/{account['id']}", headers=org_a.headers)).json()
    assert after["lifecycle_stage"] == "customer" and after["owner_id"] == str(other.id)
    # The rep's scope is back to their own records for the rest of the request and the next one.
    assert (await client.get(f"/api/v1/accounts/{account['id']}", headers=token)).status_code == 404
    assert [d["id"] for d in (await client.get(DEALS, headers=token)).json()["items"]] == [deal["id"]]


async def test_a_sales_rep_never_reaches_another_reps_deal_or_its_history(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, runtime: psycopg.Connection
) -> None:
    rep, other, third = await make_user(org_a), await make_user(org_a), await make_user(org_a)
    token = await token_of(client, rep)
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="A", owner_id=str(third.id)))["id"]
    theirs = await made(
        client, org_a.headers, DEALS, name="Theirs", account_id=account, owner_id=str(other.id)
    )
    url = f"{DEALS}/{theirs['id']}"
    assert (await client.get(url, headers=token)).status_code == 404
    assert (await client.get(f"{url}/stage-changes", headers=token)).status_code == 404
    assert (
        await client.patch(url, json={"name": "X"}, headers={**token, "If-Match": '"1"'})
    ).status_code == 404
    assert (await client.delete(url, headers=token)).status_code == 404
    # An account they cannot see takes no deal of theirs either.
    assert (await post(client, token, DEALS, name="On theirs", account_id=account)).status_code == 422
    runtime.execute(
        "SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s, true), "
        "set_config('app.scope', 'own', true)",
        [str(org_a.id), str(rep.id)],
    )
    assert runtime.execute("SELECT count(*) FROM keel.deal_stage_changes").fetchone() == (0,)
    runtime.rollback()
    refused = await client.delete(f"/api/v1/members/{other.id}", headers=org_a.headers)
    assert refused.status_code == 409 and "deal" in refused.json()["detail"]


async def test_what_deals_rest_on_is_not_removed_from_under_them(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    contact = await made(
        client,
        org_a.headers,
        "/api/v1/contacts",
        last_name="Ada",
        owner_id=str(rep.id),
        account_ids=[account],
    )
    deal = await made(
        client,
        org_a.headers,
        DEALS,
        name="D",
        account_id=account,
        primary_contact_id=contact["id"],
        owner_id=str(rep.id),
    )
    assert deal["primary_contact_id"] == contact["id"]
    (pipeline,) = (await client.get("/api/v1/pipelines", headers=org_a.headers)).json()
    url = f"/api/v1/pipelines/{pipeline['id']}"
    current = [{k: s[k] for k in ("id", "name", "probability", "outcome")} for s in pipeline["stages"]]
    kept = [s for s in current if s["id"] != deal["stage_id"]]
    without_it = await client.patch(url, json={"stages": kept}, headers={**org_a.headers, "If-Match": '"1"'})
    assert without_it.status_code == 409 and "Qualification" in without_it.json()["detail"]
    turned = [{**s, "outcome": "won"} if s["id"] == deal["stage_id"] else s for s in current]
    outcome = await client.patch(url, json={"stages": turned}, headers={**org_a.headers, "If-Match": '"1"'})
    assert outcome.status_code == 409
    renewals = await made(
        client,
        org_a.headers,
        "/api/v1/pipelines",
        name="Renewals",
        stages=[{"name": "Ask", "probability": 50}, {"name": "Signed", "probability": 100, "outcome": "won"}],
    )
    assert (await move(client, org_a.headers, deal, pipeline_id=renewals["id"])).status_code == 200
    in_use = await client.delete(f"/api/v1/pipelines/{renewals['id']}", headers=org_a.headers)
    assert in_use.status_code == 409 and "deal" in in_use.json()["detail"]
    deleted = await client.delete(f"/api/v1/accounts/{account}", headers=org_a.headers)
    assert deleted.status_code == 409 and "deal" in deleted.json()["detail"]
    # A contact that leaves takes nothing with it but the deal's link to them.
    assert (
        await client.delete(f"/api/v1/contacts/{contact['id']}", headers=org_a.headers)
    ).status_code == 204
    assert (await client.get(f"{DEALS}/{deal['id']}", headers=org_a.headers)).json()[
        "primary_contact_id"
    ] is None
    stranger = await made(
        client, org_a.headers, "/api/v1/contacts", last_name="Elsewhere", owner_id=str(rep.id)
    )
    unlinked = await move(client, org_a.headers, deal, primary_contact_id=stranger["id"])
    assert unlinked.status_code == 422 and "contact of the deal's account" in unlinked.json()["detail"]


async def test_a_manager_cannot_change_a_stage_that_holds_deals_they_cannot_see(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep = await make_user(org_a)
    manager = await token_of(client, await make_user(org_a, "manager"))  # in no team with the rep
    account = (await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id)))["id"]
    deal = await made(client, org_a.headers, DEALS, name="D", account_id=account, owner_id=str(rep.id))
    assert (await client.get(DEALS, headers=manager)).json()["items"] == []
    (pipeline,) = (await client.get("/api/v1/pipelines", headers=manager)).json()
    turned = [
        {"id": s["id"], "name": s["name"], "probability": s["probability"], "outcome": "lost"}
        if s["id"] == deal["stage_id"]
        else {k: s[k] for k in ("id", "name", "probability", "outcome")}
        for s in pipeline["stages"]
    ]
    refused = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"stages": turned}, headers={**manager, "If-Match": '"1"'}
    )
    assert refused.status_code == 409 and "1 deal(s)" in refused.json()["detail"]
    assert (await client.get(f"{DEALS}/{deal['id']}", headers=org_a.headers)).json()["status"] == "open"


async def test_exports_are_formula_safe_scoped_and_hide_amounts_from_support(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, other = await make_user(org_a), await make_user(org_a)
    rep_token, support = (
        await token_of(client, rep),
        await token_of(client, await make_user(org_a, "support")),
    )
    evil = await made(
        client, org_a.headers, "/api/v1/accounts", name="=CMD()|' /C calc'!A0", owner_id=str(rep.id)
    )
    theirs = await made(client, org_a.headers, "/api/v1/accounts", name="Theirs", owner_id=str(other.id))
    await made(
        client,
        org_a.headers,
        DEALS,
        name="@SUM(1+1)",
        account_id=evil["id"],
        amount_minor=4200,
        owner_id=str(rep.id),
    )
    await made(client, org_a.headers, DEALS, name="Hidden", account_id=theirs["id"], owner_id=str(other.id))
    accounts = await client.get("/api/v1/accounts/export", headers=rep_token)
    assert accounts.status_code == 200 and accounts.headers["content-type"].startswith("text/csv")
    lines = accounts.text.splitlines()
    assert len(lines) == 2 and "'=CMD()" in lines[1] and "Theirs" not in accounts.text
    deals = await client.get(DEALS + "/export", headers=rep_token)
    assert "'@SUM(1+1)" in deals.text and "4200,EUR" in deals.text and "Hidden" not in deals.text
    seen = await client.get(DEALS + "/export", headers=support)
    assert "4200" not in seen.text and len(seen.text.splitlines()) == 3
    trail = await client.get(
        "/api/v1/audit-events", params={"action": "crm_export.deals"}, headers=org_a.headers
    )
    assert len(trail.json()["items"]) == 2


async def test_the_list_and_the_record_written_by_postgresql_are_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, support = await make_user(org_a), await make_user(org_a, "support")
    stage = await stages(client, org_a)
    for key, kind in (("region", "text"), ("seats", "number"), ("signed", "date")):
        field = {"record_type": "deal", "key": key, "label": key, "type": kind}
        await made(client, org_a.headers, "/api/v1/custom-fields", **field)
    account = await made(client, org_a.headers, "/api/v1/accounts", name="Acme", owner_id=str(rep.id))
    contact = await made(
        client, org_a.headers, "/api/v1/contacts", last_name="Lovelace", owner_id=str(rep.id),
        account_ids=[account["id"]], primary_account_id=account["id"],
    )  # fmt: skip
    await made(client, org_a.headers, DEALS, name="Bare", account_id=account["id"], owner_id=str(rep.id))
    full = await made(
        client,
        org_a.headers,
        DEALS,
        name="Full",
        account_id=account["id"],
        primary_contact_id=contact["id"],
        amount_minor=9_000_000_000,  # beyond 32 bits
        currency="USD",
        expected_close_date="2027-03-31",
        source="referral",
        owner_id=str(rep.id),
        assignee_id=str(rep.id),
        tags=["vip", "dach"],
        custom={"region": 'Zürich "Nord"', "seats": 12.5, "signed": "2026-11-30"},
        external_id="SF-9",
    )
    lost = await move(client, org_a.headers, full, stage_id=stage["Lost"], lost_reason="Chose a rival")
    assert lost.status_code == 200, lost.text  # closed: closed_at set, status from its stage
    won = await made(
        client, org_a.headers, DEALS, name="Won", account_id=account["id"], owner_id=str(rep.id),
        stage_id=stage["Won"], amount_minor=1, currency="EUR", custom={"seats": 3},
    )  # fmt: skip
    assert won["closed_at"] is not None

    for headers, amounts in ((org_a.headers, True), (await token_of(client, support), False)):
        items = []
        for order in ({}, {"sort": "expected_close_date"}):  # the latter's key NULL for all but one
            listed = (await client.get(DEALS, params={"limit": 2, **order}, headers=headers)).json()
            rest = await client.get(
                DEALS, params={"limit": 2, "cursor": listed["next_cursor"], **order}, headers=headers
            )
            assert rest.json()["next_cursor"] is None
            items += listed["items"] + rest.json()["items"]
        assert len(items) == 6 and items[3]["name"] == "Full"  # dated first, then the NULLs by id
        assert sorted(items[:3], key=lambda i: i["id"]) == sorted(items[3:], key=lambda i: i["id"])
        assert {i["status"] for i in items} == {"open", "lost", "won"}
        records = []
        for item in items[:3]:
            one = await client.get(f"{DEALS}/{item['id']}", headers=headers)
            assert one.status_code == 200 and one.headers["etag"] == f'"{item["version"]}"'
            assert one.json() == item
            records.append(one.json())
        if not amounts:
            assert all(i["amount_minor"] is None and i["currency"] is None for i in items)
        viewer = Principal(
            org_id=org_a.id,
            actor="test",
            permissions=frozenset({Permission.DEAL_AMOUNTS_READ} if amounts else ()),
        )

        async def model_of(uow: UnitOfWork, deal_id: UUID, viewer: Principal = viewer) -> DealOut:
            deal = await deal_by_id(uow.session, deal_id)
            assert deal is not None
            outcomes = await outcomes_of_stages(uow.session, {deal.stage_id})
            return deal_out(deal, outcomes[deal.stage_id], viewer)

        await assert_sent_as_the_model(org_a.id, items + records, model_of)
