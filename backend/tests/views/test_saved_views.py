"""Saved views: a member's list filters, private or shared in the organisation; only their member
changes them; filters are those the record type's list takes."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Org
from tests.deals.test_deals import made, post, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here
VIEWS = "/api/v1/saved-views"


async def test_a_view_is_saved_shared_used_and_changed_only_by_its_member(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    rep, colleague = await make_user(org_a), await make_user(org_a)
    mine, theirs = await token_of(client, rep), await token_of(client, colleague)
    view = await made(
        client,
        mine,
        VIEWS,
        name="Open deals closing in Q1",
        record_type="deal",
        filters={"status": "open", "close_to": "2027-03-31", "cf.tier": "gold"},
    )
    assert view["path"] == "/api/v1/deals?cf.tier=gold&close_to=2027-03-31&status=open"
    private = await made(client, mine, VIEWS, name="My leads", record_type="lead", filters={"status": "new"})
    assert [v["name"] for v in (await client.get(VIEWS, headers=theirs)).json()] == []
    shared = await client.patch(
        f"{VIEWS}/{view['id']}", json={"shared": True}, headers={**mine, "If-Match": '"1"'}
    )
    assert shared.status_code == 200
    await made(client, theirs, VIEWS, name="Their own", record_type="account")
    assert [v["name"] for v in (await client.get(VIEWS, headers=theirs)).json()] == [
        "Their own",
        "Open deals closing in Q1",
    ]
    assert [
        v["name"] for v in (await client.get(VIEWS, params={"record_type": "deal"}, headers=theirs)).json()
    ] == ["Open deals closing in Q1"]
    assert (await client.get(f"{VIEWS}/{private['id']}", headers=theirs)).status_code == 404
    for attempt in (
        client.patch(
            f"{VIEWS}/{view['id']}", json={"name": "Mine now"}, headers={**theirs, "If-Match": '"2"'}
        ),
        client.delete(f"{VIEWS}/{view['id']}", headers=theirs),
    ):
        assert (await attempt).status_code == 403
    used = await client.get(view["path"], headers=theirs)  # the custom field is not defined: a clear 400
    assert used.status_code == 400
    assert (await client.delete(f"{VIEWS}/{view['id']}", headers=mine)).status_code == 204
    assert [v["name"] for v in (await client.get(VIEWS, headers=theirs)).json()] == ["Their own"]


async def test_the_database_keeps_a_member_to_their_views_and_the_shared_ones(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, runtime: psycopg.Connection
) -> None:
    rep, colleague = await make_user(org_a), await make_user(org_a)
    private = await made(client, await token_of(client, rep), VIEWS, name="Mine", record_type="account")
    runtime.execute(
        "SELECT set_config('app.org_id', %s, true), set_config('app.user_id', %s, true), "
        "set_config('app.scope', 'all', true)",
        [str(org_a.id), str(colleague.id)],
    )
    assert runtime.execute("SELECT count(*) FROM keel.saved_views").fetchone() == (0,)
    assert runtime.execute("UPDATE keel.saved_views SET shared = true").rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        runtime.execute(
            "INSERT INTO keel.saved_views (org_id, user_id, name, record_type) "
            "VALUES (%s, %s, 'Forged', 'deal')",
            [org_a.id, rep.id],
        )
    runtime.rollback()
    assert private["user_id"] == str(rep.id)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "V", "record_type": "invoice"},
        {"name": "V", "record_type": "deal", "filters": {"lifecycle_stage": "customer"}},  # an account filter
        {
            "name": "V",
            "record_type": "ticket",
            "filters": {"cf.tier": "gold"},
        },  # tickets have no custom fields
        {"name": "V", "record_type": "deal", "filters": {"status": "x" * 255}},
        {"name": "", "record_type": "deal"},
        {"name": "V", "record_type": "deal", "filters": {"status": ["open", "won"]}},
    ],
)
async def test_bad_views_are_refused(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, body: dict[str, Any]
) -> None:
    token = await token_of(client, await make_user(org_a))
    answer = await post(client, token, VIEWS, **body)
    assert answer.status_code == 422, answer.text
    assert (await client.get(VIEWS, headers=token)).json() == []


async def test_an_api_key_saves_no_views_and_names_are_unique_per_member(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    assert (await post(client, org_a.headers, VIEWS, name="V", record_type="deal")).status_code == 403
    token = await token_of(client, await make_user(org_a))
    await made(client, token, VIEWS, name="V", record_type="deal")
    assert (await post(client, token, VIEWS, name="V", record_type="lead")).status_code == 409
