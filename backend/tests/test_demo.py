"""`keel seed`: the demo organisation, its people and a CRM full of records, the same on every empty
database, written once, each record visible to whom its owner's scope allows."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import psycopg

from keel.core.config import Settings
from keel.core.platform import platform_unit_of_work
from keel.demo import DEMO_SLUG, DemoSeed, demo_anchor, seed_demo
from keel.demo_data import build
from keel.onboarding.flows import onboard_organization
from tests.conftest import DatabaseUnderTest, truncate_all
from tests.identity.conftest import Person, authorization_server, bearer, tokens_for

__all__ = ["authorization_server"]  # fixtures used here
CRM_TABLES = ("accounts", "contacts", "deals", "leads", "tickets", "activities", "deal_stage_changes")


def count(admin: psycopg.Connection, table: str, where: str = "true") -> int:
    row = admin.execute(f"SELECT count(*) FROM keel.{table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def user_ids(admin: psycopg.Connection) -> dict[str, Any]:
    rows = admin.execute("SELECT email, id FROM keel.users WHERE email LIKE '%@demo.keel.localhost'")
    return {email.split("@")[0]: user_id for email, user_id in rows}


async def every(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **query: str
) -> list[dict[str, Any]]:
    """Every item of a list, page after page."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200, **query}
    while True:
        answer = await client.get(path, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        if not answer.json()["next_cursor"]:
            return items
        params["cursor"] = answer.json()["next_cursor"]


async def test_the_seed_fills_every_list_once(settings: Settings, admin: psycopg.Connection) -> None:
    started = time.monotonic()
    seed = await seed_demo(settings, "tests")
    took = time.monotonic() - started
    print(f"demo seed took {took:.1f} s")  # shown with -s: seeding has a budget of 10 s
    assert seed.created and seed.api_key and seed.api_key.startswith("keel_sk_")
    assert [email for _, email, _ in seed.users] == [
        f"{who}@demo.keel.localhost"
        for who in ("org-admin", "manager", "sales-rep", "sales-rep-2", "finance", "support")
    ]
    assert sorted(role for role, _, _ in seed.users).count("sales_rep") == 2

    counts = {table: count(admin, table) for table in CRM_TABLES}
    assert counts["accounts"] == 50 and counts["contacts"] == 150 and counts["deals"] == 60
    plan = build(demo_anchor())
    replies = sum(t.reply is not None for t in plan.tickets)
    assert counts["leads"] == 40 and counts["tickets"] == 24
    assert counts["activities"] == len(plan.activities) + replies
    # Every contact has exactly one primary account.
    assert count(admin, "contact_accounts", "is_primary") == 150
    assert count(admin, "contacts c", "NOT EXISTS (SELECT 1 FROM keel.contact_accounts l "
                 "WHERE l.contact_id = c.id AND l.is_primary)") == 0  # fmt: skip

    stages: dict[str, int] = dict(
        admin.execute(
            "SELECT s.name, count(d.id) FROM keel.stages s JOIN keel.pipelines p ON p.id = s.pipeline_id "
            "LEFT JOIN keel.deals d ON d.stage_id = s.id WHERE p.is_default GROUP BY s.name"
        ).fetchall()
    )
    assert set(stages) == {"Qualification", "Proposal", "Negotiation", "Won", "Lost"}
    assert all(held > 0 for held in stages.values()), stages
    assert count(admin, "deals d", "d.lost_reason IS NOT NULL") == stages["Lost"]
    assert count(admin, "deals", "currency = 'EUR'") > 30 and count(admin, "deals", "currency <> 'EUR'") > 5
    assert count(admin, "accounts", "lifecycle_stage = 'customer'") >= 10

    # The history goes back months, one row per move, each after the one before.
    oldest, newest, months = admin.execute(
        "SELECT min(changed_at), max(changed_at), count(DISTINCT date_trunc('month', changed_at)) "
        "FROM keel.deal_stage_changes"
    ).fetchone() or (None, None, 0)
    assert newest - oldest > timedelta(days=150) and months >= 6
    assert count(admin, "deal_stage_changes", "from_stage_id IS NULL") == 60
    assert count(admin, "deal_stage_changes") > 150
    unordered = admin.execute(
        "SELECT count(*) FROM keel.deals d WHERE d.stage_entered_at <> "
        "(SELECT max(changed_at) FROM keel.deal_stage_changes c WHERE c.deal_id = d.id) "
        "OR d.stage_id <> (SELECT to_stage_id FROM keel.deal_stage_changes c WHERE c.deal_id = d.id "
        "ORDER BY changed_at DESC LIMIT 1)"
    ).fetchone()
    assert unordered == (0,)
    closed = admin.execute(
        "SELECT count(*) FILTER (WHERE s.outcome <> 'open' AND d.closed_at IS NULL), "
        "count(*) FILTER (WHERE s.outcome = 'open' AND d.closed_at IS NOT NULL) "
        "FROM keel.deals d JOIN keel.stages s ON s.id = d.stage_id"
    ).fetchone()
    assert closed == (0, 0)

    leads: dict[str, int] = dict(
        admin.execute("SELECT status, count(*) FROM keel.leads GROUP BY status").fetchall()
    )
    assert set(leads) == {"new", "working", "qualified", "disqualified", "converted"}
    assert count(admin, "leads", "status = 'disqualified' AND disqualified_reason IS NULL") == 0
    assert count(admin, "leads", "status = 'converted' AND deal_id IS NOT NULL") == leads["converted"]

    tickets: dict[str, int] = dict(
        admin.execute("SELECT status, count(*) FROM keel.tickets GROUP BY status").fetchall()
    )
    assert set(tickets) == {"open", "pending", "solved", "closed"}
    assert count(admin, "tickets", "status IN ('solved', 'closed') AND (resolved_at IS NULL "
                 "OR first_response_at IS NULL OR resolved_at <= first_response_at)") == 0  # fmt: skip
    assert count(admin, "tickets", "first_response_at <= created_at") == 0

    tasks = admin.execute(
        "SELECT count(*) FILTER (WHERE done_at IS NOT NULL), "
        "count(*) FILTER (WHERE done_at IS NULL AND due_at > now()), "
        "count(*) FILTER (WHERE done_at IS NULL AND due_at < now()) FROM keel.activities WHERE kind = 'task'"
    ).fetchone()
    assert tasks is not None and all(tasks), tasks
    kinds = {k for (k,) in admin.execute("SELECT DISTINCT kind FROM keel.activities")}
    assert kinds == {"note", "call", "email", "meeting", "task"}
    assert count(admin, "activities", "created_at > now() OR occurred_at > now()") == 0

    # Everything went through the services: the trail holds each record and each move.
    audited: dict[str, int] = dict(
        admin.execute("SELECT action, count(*) FROM keel.audit_events GROUP BY action").fetchall()
    )
    assert audited["account.created"] == 50 and audited["contact.created"] == 150
    assert audited["deal.created"] == 60 and audited["lead.converted"] == leads["converted"]
    assert audited["deal.updated"] == count(admin, "deal_stage_changes", "from_stage_id IS NOT NULL")
    assert audited["account.became_customer"] > 0 and audited["ticket.first_response"] > 0
    assert audited["team.member_added"] == 3
    # Each change is recorded as the member who made it (the first key, as the platform's onboarding).
    assert count(admin, "audit_events", "actor NOT LIKE 'user:%' AND action <> 'api_key.issued'") == 0

    before = {table: count(admin, table) for table in (*CRM_TABLES, "users", "memberships", "audit_events")}
    again = await seed_demo(settings, "tests")
    assert again == DemoSeed(created=False)
    assert {table: count(admin, table) for table in before} == before


async def test_each_demo_user_sees_what_their_scope_allows(
    settings: Settings, admin: psycopg.Connection, client: httpx.AsyncClient, authorization_server: None
) -> None:
    seed = await seed_demo(settings, "tests")
    ids = user_ids(admin)
    api_key = {"Authorization": f"Bearer {seed.api_key}"}
    assert len(await every(client, api_key, "/api/v1/accounts")) == 50

    async def sees(who: str, path: str, **query: str) -> set[str]:
        _, email, password = next(u for u in seed.users if u[1].startswith(f"{who}@"))
        async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as browser:
            token = (await tokens_for(browser, Person(ids[who], email, password)))["access_token"]
        return {item["id"] for item in await every(client, bearer(token), path, **query)}

    def owned_by(table: str, *people: str) -> set[str]:
        rows = admin.execute(
            f"SELECT id::text FROM keel.{table} WHERE owner_id = ANY(%s) OR assignee_id = ANY(%s)",
            ([ids[p] for p in people], [ids[p] for p in people]),
        )
        return {r[0] for r in rows}

    team = ("manager", "sales-rep", "sales-rep-2")
    for path, table in (("/api/v1/accounts", "accounts"), ("/api/v1/deals", "deals")):
        rep, rep_2, manager = [await sees(who, path) for who in ("sales-rep", "sales-rep-2", "manager")]
        assert rep == owned_by(table, "sales-rep") and rep_2 == owned_by(table, "sales-rep-2")
        assert rep and rep_2 and not rep & rep_2
        assert manager == owned_by(table, *team) and rep | rep_2 < manager
        assert not manager & owned_by(table, "org-admin") and owned_by(table, "org-admin")
    leads = await sees("sales-rep", "/api/v1/leads")
    assert leads == owned_by("leads", "sales-rep") and leads
    # A rep's tasks include those the Manager set for them.
    for who in ("sales-rep", "sales-rep-2"):
        tasks = await sees(who, "/api/v1/activities", kind="task")
        theirs = admin.execute(
            "SELECT id::text, owner_id = %s FROM keel.activities WHERE kind = 'task' AND assignee_id = %s",
            (ids["manager"], ids[who]),
        ).fetchall()
        assert {task for task, _ in theirs} <= tasks and any(by_manager for _, by_manager in theirs)
    # Support works every ticket.
    assert len(await sees("support", "/api/v1/tickets")) == 24


async def test_an_empty_seed_has_people_and_no_records(settings: Settings, admin: psycopg.Connection) -> None:
    seed = await seed_demo(settings, "tests", with_data=False)
    assert seed.created and len(seed.users) == 6
    assert count(admin, "memberships") == 6 and count(admin, "team_members") == 3
    assert {table: count(admin, table) for table in CRM_TABLES} == dict.fromkeys(CRM_TABLES, 0)
    # Asking again with data adds none: the demo organisation exists.
    assert not (await seed_demo(settings, "tests")).created
    assert count(admin, "accounts") == 0


async def test_an_interrupted_seed_is_finished_by_the_next(
    settings: Settings, admin: psycopg.Connection
) -> None:
    # The organisation committed, then the seed stopped: no members, no records, its key never shown.
    async with platform_unit_of_work("tests") as uow:
        await onboard_organization(uow, "Demo Company", DEMO_SLUG)
    seed = await seed_demo(settings, "tests")
    assert seed.created and seed.api_key and len(seed.users) == 6
    assert count(admin, "accounts") == 50 and count(admin, "api_keys") == 2


def snapshot(admin: psycopg.Connection) -> dict[str, Any]:
    return {
        "accounts": admin.execute(
            "SELECT name, domain, country, industry, size, lifecycle_stage, tags, created_at::date "
            "FROM keel.accounts ORDER BY name"
        ).fetchall(),
        "contacts": admin.execute("SELECT email, phone, title FROM keel.contacts ORDER BY email").fetchall(),
        "deals": admin.execute(
            "SELECT d.name, d.amount_minor, d.currency, s.name, d.lost_reason, d.expected_close_date, "
            "(SELECT array_agg(c.changed_at ORDER BY c.changed_at) FROM keel.deal_stage_changes c "
            "WHERE c.deal_id = d.id AND c.from_stage_id IS NOT NULL) FROM keel.deals d "
            "JOIN keel.stages s ON s.id = d.stage_id ORDER BY d.name, d.amount_minor"
        ).fetchall(),
        "leads": admin.execute(
            "SELECT email, status, disqualified_reason FROM keel.leads ORDER BY email"
        ).fetchall(),
        "tickets": admin.execute(
            "SELECT subject, status, first_response_at, resolved_at FROM keel.tickets ORDER BY created_at"
        ).fetchall(),
    }


async def test_the_same_data_on_every_empty_database(
    settings: Settings, admin: psycopg.Connection, test_database: DatabaseUnderTest
) -> None:
    anchor = demo_anchor()  # both seeds count back from the same day, even across midnight
    await seed_demo(settings, "tests", anchor=anchor)
    first = snapshot(admin)
    truncate_all(test_database)
    await seed_demo(settings, "tests", anchor=anchor)
    assert snapshot(admin) == first
