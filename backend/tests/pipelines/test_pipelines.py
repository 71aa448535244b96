"""Pipelines: every organisation starts with a default one; stages are ordered, named once, with at least
one open and one won stage; changes keep stage ids, are audited, and stay inside the organisation."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Org
from tests.identity.conftest import MakeUser, authorization_server, bearer, make_user, tokens_for

__all__ = ["authorization_server", "make_user"]  # fixtures used here
PIPELINES = "/api/v1/pipelines"
STAGES = [
    {"name": "Discovery", "probability": 20},
    {"name": "Closed won", "probability": 100, "outcome": "won"},
]


async def test_every_organisation_starts_with_a_default_pipeline(
    client: httpx.AsyncClient, org_a: Org, admin: psycopg.Connection
) -> None:
    (pipeline,) = (await client.get(PIPELINES, headers=org_a.headers)).json()
    platform_log = admin.execute(
        "SELECT action, detail->>'pipeline_id' FROM keel.platform_audit_events WHERE target_org_id = %s",
        [org_a.id],
    ).fetchall()
    assert ("organization.default_pipeline_created", pipeline["id"]) in platform_log
    assert pipeline["name"] == "Sales" and pipeline["is_default"]
    assert [(s["name"], s["position"], s["probability"], s["outcome"]) for s in pipeline["stages"]] == [
        ("Qualification", 1, 10, "open"),
        ("Proposal", 2, 40, "open"),
        ("Negotiation", 3, 70, "open"),
        ("Won", 4, 100, "won"),
        ("Lost", 5, 0, "lost"),
    ]


async def test_stages_are_reordered_renamed_added_and_removed_keeping_their_ids(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    made = await client.post(
        PIPELINES,
        json={"name": "Renewals", "stages": STAGES},
        headers={**org_a.headers, "Idempotency-Key": "p"},
    )
    assert made.status_code == 201, made.text
    pipeline = made.json()
    discovery, won = pipeline["stages"]
    changed = await client.patch(
        f"{PIPELINES}/{pipeline['id']}",
        json={
            "name": "Renewals 2027",
            "stages": [
                {"name": "Intro", "probability": 5},
                {"id": discovery["id"], "name": "Discovery call", "probability": 25},
                {"id": won["id"], "name": "Closed won", "probability": 100, "outcome": "won"},
            ],
        },
        headers={**org_a.headers, "If-Match": made.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    stages = changed.json()["stages"]
    assert [s["name"] for s in stages] == ["Intro", "Discovery call", "Closed won"]
    assert stages[1]["id"] == discovery["id"] and stages[2]["id"] == won["id"]
    assert changed.json()["version"] == 2
    made_default = await client.patch(
        f"{PIPELINES}/{pipeline['id']}",
        json={"is_default": True},
        headers={**org_a.headers, "If-Match": '"2"'},
    )
    assert made_default.status_code == 200
    listed = (await client.get(PIPELINES, headers=org_a.headers)).json()
    assert [p["name"] for p in listed if p["is_default"]] == ["Renewals 2027"]
    sales = next(p for p in listed if p["name"] == "Sales")
    assert (await client.delete(f"{PIPELINES}/{pipeline['id']}", headers=org_a.headers)).status_code == 409
    assert (await client.delete(f"{PIPELINES}/{sales['id']}", headers=org_a.headers)).status_code == 204
    events = await client.get(
        "/api/v1/audit-events", params={"entity_type": "pipeline"}, headers=org_a.headers
    )
    assert [e["action"] for e in events.json()["items"]][:4] == [
        "pipeline.deleted",
        "pipeline.updated",
        "pipeline.updated",
        "pipeline.created",
    ]


@pytest.mark.parametrize(
    "stages",
    [
        [{"name": "Only", "probability": 10}],
        [{"name": "A", "probability": 10}, {"name": "B", "probability": 20}],  # nothing to win
        [{"name": "A", "probability": 10}, {"name": "a", "probability": 100, "outcome": "won"}],  # same name
        [{"name": "A", "probability": 101}, {"name": "W", "probability": 100, "outcome": "won"}],
        [
            {"name": "A", "probability": 10, "outcome": "maybe"},
            {"name": "W", "probability": 100, "outcome": "won"},
        ],
        [{"id": "00000000-0000-0000-0000-000000000001", "name": "A", "probability": 1}, *STAGES],
    ],
)
async def test_bad_pipelines_are_refused_and_nothing_is_saved(
    client: httpx.AsyncClient, org_a: Org, stages: list[dict[str, Any]]
) -> None:
    answer = await client.post(
        PIPELINES, json={"name": "Bad", "stages": stages}, headers={**org_a.headers, "Idempotency-Key": "bad"}
    )
    assert answer.status_code == 422, answer.text
    assert len((await client.get(PIPELINES, headers=org_a.headers)).json()) == 1


async def test_stages_of_another_pipeline_or_organisation_are_refused(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    (theirs,) = (await client.get(PIPELINES, headers=org_b.headers)).json()
    (ours,) = (await client.get(PIPELINES, headers=org_a.headers)).json()
    foreign = {**theirs["stages"][0], "probability": 10}
    del foreign["position"]
    refused = await client.patch(
        f"{PIPELINES}/{ours['id']}",
        json={"stages": [foreign, *STAGES]},
        headers={**org_a.headers, "If-Match": '"1"'},
    )
    assert refused.status_code == 422
    assert (await client.get(f"{PIPELINES}/{theirs['id']}", headers=org_a.headers)).status_code == 404
    duplicate = await client.post(
        PIPELINES, json={"name": "sales", "stages": STAGES}, headers={**org_a.headers, "Idempotency-Key": "d"}
    )
    assert duplicate.status_code == 409


async def test_sales_reps_read_pipelines_and_managers_change_them(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser
) -> None:
    async def token_of(role: str) -> dict[str, str]:
        async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as browser:
            return bearer((await tokens_for(browser, await make_user(org_a, role)))["access_token"])

    rep, manager = await token_of("sales_rep"), await token_of("manager")
    assert (await client.get(PIPELINES, headers=rep)).status_code == 200
    body = {"name": "New", "stages": STAGES}
    assert (
        await client.post(PIPELINES, json=body, headers={**rep, "Idempotency-Key": "r"})
    ).status_code == 403
    assert (
        await client.post(PIPELINES, json=body, headers={**manager, "Idempotency-Key": "m"})
    ).status_code == 201
