"""The compliance export: a job builds a zip of the audit trail, the members and the permission matrix;
its manifest's SHA-256 hashes match the files; only an Org Admin gets it, and only their organisation's."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import httpx
import psycopg

from keel.core.jobs import open_job_app
from tests.conftest import DatabaseUnderTest, Org
from tests.identity.conftest import MakeUser, authorization_server, bearer, make_user, tokens_for

__all__ = ["authorization_server", "make_user"]  # fixtures used here
EXPORTS = "/api/v1/compliance-exports"


async def run_jobs(test_database: DatabaseUnderTest) -> None:
    async with open_job_app(test_database.role_conninfo("keel_app")) as job_app:
        await job_app.run_worker_async(queues=["default"], wait=False, install_signal_handlers=False)


async def request_export(client: httpx.AsyncClient, org: Org, key: str = "export-1") -> httpx.Response:
    return await client.post(EXPORTS, headers={**org.headers, "Idempotency-Key": key})


async def test_an_org_admin_gets_a_zip_whose_manifest_vouches_for_every_file(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    admin, rep = await make_user(org_a, "org_admin", with_mfa=True), await make_user(org_a, "sales_rep")
    await client.post(
        "/api/v1/roles",
        json={"key": "auditor", "name": "=Auditor", "permissions": ["audit:read"], "record_scope": "own"},
        headers={**org_a.headers, "Idempotency-Key": "role"},
    )
    token = bearer((await tokens_for(client, admin))["access_token"])
    started = await request_export(client, org_a)
    assert started.status_code == 202 and started.json()["status"] == "pending", started.text
    export = started.json()["id"]
    early = await client.get(f"{EXPORTS}/{export}/archive", headers=token)
    assert early.status_code == 409

    await run_jobs(test_database)
    done = (await client.get(f"{EXPORTS}/{export}", headers=token)).json()
    assert done["status"] == "done" and done["finished_at"]
    download = await client.get(f"{EXPORTS}/{export}/archive", headers=token)
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"

    archive = zipfile.ZipFile(io.BytesIO(download.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest == done["manifest"]
    assert manifest["organization"]["slug"] == org_a.slug
    assert sorted(f["name"] for f in manifest["files"]) == [
        "audit-events.csv",
        "members.csv",
        "permission-matrix.csv",
    ]
    for entry in manifest["files"]:
        content = archive.read(entry["name"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], entry["name"]
        assert len(content) == entry["bytes"]

    audit = list(csv.DictReader(io.StringIO(archive.read("audit-events.csv").decode())))
    heads = {}
    for category in {r["category"] for r in audit}:
        chain = [r for r in audit if r["category"] == category]
        assert [int(r["seq"]) for r in chain] == list(range(1, len(chain) + 1))
        heads[category] = {"seq": len(chain), "hash": chain[-1]["hash"]}
    assert manifest["audit_chain_heads"] == heads and set(heads) == {"security", "access"}
    assert "compliance_export.requested" in {r["action"] for r in audit}

    members = {r["email"]: r for r in csv.DictReader(io.StringIO(archive.read("members.csv").decode()))}
    assert members[admin.email]["role"] == "org_admin" and members[admin.email]["mfa"] == "yes"
    assert members[admin.email]["last_login_at"]  # signed in for the token
    assert members[rep.email]["role"] == "sales_rep" and members[rep.email]["last_login_at"] == ""

    matrix = {
        r["role"]: r for r in csv.DictReader(io.StringIO(archive.read("permission-matrix.csv").decode()))
    }
    assert matrix["sales_rep"]["record_scope"] == "own" and matrix["org_admin"]["audit:export"] == "yes"
    assert matrix["auditor"]["name"] == "'=Auditor"  # formula-safe
    assert matrix["auditor"]["audit:read"] == "yes" and matrix["auditor"]["audit:export"] == ""

    actions = [e["action"] for e in (await client.get("/api/v1/audit-events", headers=token)).json()["items"]]
    assert {"compliance_export.completed", "compliance_export.downloaded"} <= set(actions)


async def test_only_org_admins_get_exports_and_only_their_own(
    client: httpx.AsyncClient,
    org_a: Org,
    org_b: Org,
    make_user: MakeUser,
    test_database: DatabaseUnderTest,
) -> None:
    export = (await request_export(client, org_a)).json()["id"]
    await run_jobs(test_database)
    manager = bearer((await tokens_for(client, await make_user(org_a, "manager")))["access_token"])
    assert (await client.post(EXPORTS, headers={**manager, "Idempotency-Key": "m"})).status_code == 403
    assert (await client.get(f"{EXPORTS}/{export}/archive", headers=manager)).status_code == 403
    assert (await client.get(f"{EXPORTS}/{export}", headers=org_b.headers)).status_code == 404
    assert (await client.get(f"{EXPORTS}/{export}/archive", headers=org_b.headers)).status_code == 404
    assert (await client.get(f"{EXPORTS}/not-an-id", headers=org_a.headers)).status_code == 422


async def test_a_failed_build_is_marked_failed_and_audited(
    client: httpx.AsyncClient, org_a: Org, test_database: DatabaseUnderTest
) -> None:
    export = (await request_export(client, org_a)).json()["id"]
    with psycopg.connect(test_database.admin_conninfo(), autocommit=True) as conn:
        conn.execute("REVOKE SELECT ON keel.teams FROM keel_app")  # the build cannot read the teams
        try:
            await run_jobs(test_database)
        finally:
            conn.execute("GRANT SELECT ON keel.teams TO keel_app")
    failed = (await client.get(f"{EXPORTS}/{export}", headers=org_a.headers)).json()
    assert failed["status"] == "failed" and failed["manifest"] is None
    assert (await client.get(f"{EXPORTS}/{export}/archive", headers=org_a.headers)).status_code == 409
    actions = [
        e["action"] for e in (await client.get("/api/v1/audit-events", headers=org_a.headers)).json()["items"]
    ]
    assert "compliance_export.failed" in actions
