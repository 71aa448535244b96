"""The audit trail is queried with filters and exported (CSV that spreadsheets cannot execute, or JSON)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from keel.audit.schemas import AuditEventOut
from keel.core.config import get_settings
from keel.core.exports import safe_cell
from tests.conftest import Org

EVENTS = "/api/v1/audit-events"


async def _issue_keys(client: httpx.AsyncClient, org: Org, *names: str) -> None:
    for name in names:
        assert (
            await client.post("/api/v1/api-keys", json={"name": name}, headers=org.headers)
        ).status_code == 201


async def test_filters_by_action_entity_actor_and_time(client: httpx.AsyncClient, org_a: Org) -> None:
    await _issue_keys(client, org_a, "one", "two")
    everything = (await client.get(EVENTS, headers=org_a.headers)).json()["items"]
    issued = [e for e in everything if e["action"] == "api_key.issued"]
    target = issued[0]
    by_entity = (
        await client.get(EVENTS, params={"entity_id": target["entity_id"]}, headers=org_a.headers)
    ).json()
    assert [e["id"] for e in by_entity["items"]] == [target["id"]]
    by_actor = (await client.get(EVENTS, params={"actor": target["actor"]}, headers=org_a.headers)).json()
    assert {e["actor"] for e in by_actor["items"]} == {target["actor"]}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = (await client.get(EVENTS, params={"since": future}, headers=org_a.headers)).json()
    assert later["items"] == []
    earlier = (await client.get(EVENTS, params={"until": future}, headers=org_a.headers)).json()
    assert len(earlier["items"]) == len(everything)


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"since": "2026-11-01T00:00:00"},
        {"since": "soon"},
    ],
)
async def test_bad_filters_get_422(client: httpx.AsyncClient, org_a: Org, params: dict[str, str]) -> None:
    answer = await client.get(EVENTS, params=params, headers=org_a.headers)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


async def test_csv_export_streams_every_row_in_chain_order_and_neutralises_formulas(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    await _issue_keys(client, org_a, '=HYPERLINK("http://evil.test")', "plain", "+1-555")
    answer = await client.get(f"{EVENTS}/export", params={"format": "csv"}, headers=org_a.headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    for category in ("security", "access"):  # each category's chain, complete and in order
        chain = [int(r["seq"]) for r in rows if r["category"] == category]
        assert chain == list(range(1, len(chain) + 1)) and chain, category
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    assert any("HYPERLINK" in row["after"] for row in rows)
    assert rows[-1]["action"] == "audit.exported"  # the export records itself first


async def test_json_export_honours_the_filter(client: httpx.AsyncClient, org_a: Org, org_b: Org) -> None:
    await _issue_keys(client, org_a, "a1", "a2")
    await _issue_keys(client, org_b, "b1")
    answer = await client.get(
        f"{EVENTS}/export", params={"format": "json", "action": "api_key.issued"}, headers=org_a.headers
    )
    assert answer.status_code == 200
    rows = json.loads(answer.text)
    assert [r["after"]["name"] for r in rows] == ["Initial key", "a1", "a2"]  # none of org B's


async def test_exports_are_limited_per_organisation(
    client: httpx.AsyncClient, org_a: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit_export", "1/minute")
    assert (await client.get(f"{EVENTS}/export", headers=org_a.headers)).status_code == 200
    assert (await client.get(f"{EVENTS}/export", headers=org_a.headers)).status_code == 429


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("ok", "ok"),
        (None, ""),
        (3, "3"),
    ],
)
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


async def test_the_list_written_by_postgresql_is_what_the_model_would_send(
    client: httpx.AsyncClient, org_a: Org, admin: Any
) -> None:
    """The audit list's JSON is built by PostgreSQL (keel.core.pagination.json_keyset_page): each item
    must be exactly the AuditEventOut of its row, key for key and value for value."""
    await _issue_keys(client, org_a, "one", "two", "three")
    page = (await client.get("/api/v1/audit-events?limit=2", headers=org_a.headers)).json()
    rest = await client.get(
        "/api/v1/audit-events", params={"limit": 50, "cursor": page["next_cursor"]}, headers=org_a.headers
    )
    items = page["items"] + rest.json()["items"]
    assert len(items) >= 4 and rest.json()["next_cursor"] is None
    columns = ", ".join(AuditEventOut.model_fields)
    for item in items:
        row = admin.execute(
            f"SELECT {columns} FROM keel.audit_events WHERE id = %s", (item["id"],)
        ).fetchone()
        expected = AuditEventOut.model_validate(dict(zip(AuditEventOut.model_fields, row, strict=True)))
        assert list(item) == list(AuditEventOut.model_fields)  # the same keys, in the model's order
        assert AuditEventOut.model_validate(item) == expected  # the same values
        assert item["created_at"].endswith("Z")
