"""CSV imports: column mapping, a dry run that reports each row's errors and writes nothing, upsert by
external id or e-mail/domain, progress from the API, and rollback of the whole batch."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import psycopg
import pytest

from tests.audit.test_compliance_export import run_jobs
from tests.conftest import DatabaseUnderTest, Org
from tests.deals.test_deals import made, stages, token_of
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here
IMPORTS = "/api/v1/imports"
ACCOUNTS_CSV = """\
Company,Website,Country,Ref,Owner,Tier
Acme,acme.example,DE,A-1,{owner},gold
Globex,globex.example,US,A-2,,silver
,nameless.example,FR,A-3,,
Initech,initech.example,Germany,A-4,,gold
Umbrella,umbrella.example,GB,A-5,nobody@example.com,
"""
ACCOUNT_MAPPING = {
    "Company": "name",
    "Website": "domain",
    "Country": "country",
    "Ref": "external_id",
    "Owner": "owner_email",
    "Tier": "custom.tier",
}


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode()


async def start(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(IMPORTS, json=body, headers={**headers, "Idempotency-Key": str(hash(str(body)))})


async def finished(
    client: httpx.AsyncClient, headers: dict[str, str], test_database: DatabaseUnderTest, import_id: str
) -> dict[str, Any]:
    await run_jobs(test_database)
    answer = await client.get(f"{IMPORTS}/{import_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def count(admin: psycopg.Connection, table: str, org: Org) -> int:
    row = admin.execute(f"SELECT count(*) FROM keel.{table} WHERE org_id = %s", [org.id]).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def tier(client: httpx.AsyncClient, org_a: Org) -> None:
    await made(
        client, org_a.headers, "/api/v1/custom-fields",
        record_type="account", key="tier", label="Tier", type="select", options=["gold", "silver"],
    )  # fmt: skip


async def test_a_dry_run_reports_every_bad_row_and_writes_nothing_then_the_import_does(
    client: httpx.AsyncClient,
    org_a: Org,
    make_user: MakeUser,
    test_database: DatabaseUnderTest,
    admin: psycopg.Connection,
    tier: None,
) -> None:
    owner = await make_user(org_a, "manager", email="owner@example.com")
    admin_user = await make_user(org_a, "org_admin")
    token = await token_of(client, admin_user)
    body = {
        "record_type": "account",
        "csv_base64": b64(ACCOUNTS_CSV.format(owner="Owner@Example.com")),
        "mapping": ACCOUNT_MAPPING,
    }
    dry = await start(client, token, **body, dry_run=True)
    assert dry.status_code == 202, dry.text
    assert (dry.json()["status"], dry.json()["total_rows"], dry.json()["delimiter"]) == ("queued", 5, ",")
    report = await finished(client, token, test_database, dry.json()["id"])
    assert (report["status"], report["percent"], report["created"], report["failed"]) == (
        "completed",
        100,
        2,
        3,
    )
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (4, "name"),
        (5, "country"),
        (6, "owner_email"),
    ]
    assert count(admin, "accounts", org_a) == 0

    real = await finished(client, token, test_database, (await start(client, token, **body)).json()["id"])
    assert (real["created"], real["updated"], real["failed"]) == (2, 0, 3)
    accounts = {a["name"]: a for a in (await client.get("/api/v1/accounts", headers=token)).json()["items"]}
    assert set(accounts) == {"Acme", "Globex"}
    assert accounts["Acme"]["owner_id"] == str(owner.id) and accounts["Acme"]["custom"] == {"tier": "gold"}
    assert accounts["Globex"]["owner_id"] == str(admin_user.id)  # no owner, no rule: who imported it
    trail = await client.get("/api/v1/audit-events", params={"entity_id": real["id"]}, headers=org_a.headers)
    assert [e["action"] for e in trail.json()["items"]] == ["import.completed", "import.requested"]


async def test_an_upsert_updates_by_key_and_a_rollback_undoes_the_whole_batch(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest, tier: None
) -> None:
    rep = await make_user(org_a, "org_admin")
    h = org_a.headers
    acme = await made(
        client,
        h,
        "/api/v1/accounts",
        name="Acme Old",
        domain="acme.example",
        owner_id=str(rep.id),
        custom={"tier": "silver"},
    )
    csv = "Company;Website;Tier\nAcme New;acme.example;gold\nHooli;hooli.example;\n"
    mapping = {"Company": "name", "Website": "domain", "Tier": "custom.tier"}
    rep_token = await token_of(client, rep)
    started = await start(
        client, rep_token, record_type="account", csv_base64=b64(csv), mapping=mapping, upsert_by="domain"
    )
    assert started.json()["delimiter"] == ";"
    done = await finished(client, h, test_database, started.json()["id"])
    assert (done["created"], done["updated"], done["failed"]) == (1, 1, 0)
    changed = (await client.get(f"/api/v1/accounts/{acme['id']}", headers=h)).json()
    assert (changed["name"], changed["custom"], changed["version"]) == ("Acme New", {"tier": "gold"}, 2)

    rolled = await client.post(f"{IMPORTS}/{done['id']}/rollback", headers=rep_token)
    assert rolled.status_code == 200 and rolled.json()["status"] == "rolled_back"
    restored = (await client.get(f"/api/v1/accounts/{acme['id']}", headers=h)).json()
    assert (restored["name"], restored["custom"]) == ("Acme Old", {"tier": "silver"})
    names = [a["name"] for a in (await client.get("/api/v1/accounts", headers=h)).json()["items"]]
    assert names == ["Acme Old"]
    assert (await client.post(f"{IMPORTS}/{done['id']}/rollback", headers=rep_token)).status_code == 409


async def test_contacts_and_deals_join_their_accounts_and_won_deals_make_customers(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    importer = await token_of(client, await make_user(org_a, "org_admin"))
    await made(client, importer, "/api/v1/accounts", name="Acme", domain="acme.example", external_id="A-1")
    contacts = "first,last,email,phone,country,account\nAda,Lovelace,ADA@acme.example,030 1234567,DE,A-1\n"
    done = await finished(
        client,
        importer,
        test_database,
        (
            await start(
                client, importer, record_type="contact", csv_base64=b64(contacts),
                mapping={"first": "first_name", "last": "last_name", "email": "email", "phone": "phone",
                         "country": "country", "account": "account_external_id"},
            )
        ).json()["id"],
    )  # fmt: skip
    assert (done["created"], done["failed"]) == (1, 0), done["errors"]
    (ada,) = (await client.get("/api/v1/contacts", headers=importer)).json()["items"]
    assert (ada["email"], ada["phone"], ada["primary_account_id"] is not None) == (
        "ada@acme.example",
        "+49301234567",
        True,
    )
    deals = (
        "Ref,Deal,Account,Amount,Stage,Reason\n"
        'D-1,Renewal,acme.example,"12,500.50",Won,\n'
        "D-2,Upsell,acme.example,99,Lost,\n"
        "D-3,Pilot,nowhere.example,1,,\n"
        "D-4,Spare,acme.example,1.001,,\n"
    )
    mapping = {"Ref": "external_id", "Deal": "name", "Account": "account_domain", "Amount": "amount",
               "Stage": "stage", "Reason": "lost_reason"}  # fmt: skip
    done = await finished(
        client,
        importer,
        test_database,
        (await start(client, importer, record_type="deal", csv_base64=b64(deals), mapping=mapping)).json()[
            "id"
        ],
    )
    assert (done["created"], done["failed"]) == (1, 3)
    assert [e["field"] for e in done["errors"]] == ["lost_reason", "account_domain", "amount"]
    (deal,) = (await client.get("/api/v1/deals", headers=importer)).json()["items"]
    assert (deal["amount_minor"], deal["status"], deal["stage_id"]) == (
        1_250_050,
        "won",
        (await stages(client, org_a))["Won"],
    )
    history = (await client.get(f"/api/v1/deals/{deal['id']}/stage-changes", headers=importer)).json()
    assert len(history) == 1 and history[0]["from_stage_id"] is None
    (account,) = (await client.get("/api/v1/accounts", headers=importer)).json()["items"]
    assert account["lifecycle_stage"] == "customer"
    # Rolling the deal import back removes the deal and makes the account a prospect again.
    assert (await client.post(f"{IMPORTS}/{done['id']}/rollback", headers=importer)).status_code == 200
    assert (await client.get("/api/v1/deals", headers=importer)).json()["items"] == []
    assert (await client.get(f"/api/v1/accounts/{account['id']}", headers=importer)).json()[
        "lifecycle_stage"
    ] == "prospect"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"csv_base64": b64("Company\nMüller GmbH\n", "latin-1")}, "not UTF-8"),
        ({"csv_base64": b64("Company|Website\nAcme|acme.example\n"), "delimiter": ","}, "delimiter"),
        ({"csv_base64": b64("")}, "empty"),
        ({"csv_base64": "not base64!"}, "base64"),
        ({"mapping": {"Company": "name", "Website": "name"}}, "Two columns"),
        ({"mapping": {"Website": "domain"}}, "name"),
        ({"mapping": {"Company": "name", "Website": "salary"}}, "salary"),
        ({"mapping": {"Company": "name", "Missing": "domain"}}, "Missing"),
        ({"upsert_by": "email"}, "matched by"),
        ({"upsert_by": "external_id"}, "map a column"),
        ({"record_type": "ticket"}, ""),
    ],
)
async def test_a_file_or_mapping_that_cannot_be_imported_is_refused_at_once(
    client: httpx.AsyncClient, org_a: Org, admin: psycopg.Connection, body: dict[str, Any], detail: str
) -> None:
    request = {
        "record_type": "account",
        "csv_base64": b64("Company,Website\nAcme,acme.example\n"),
        "mapping": {"Company": "name", "Website": "domain"},
        **body,
    }
    answer = await start(client, org_a.headers, **request)
    assert answer.status_code == 422, answer.text
    assert detail in answer.text and answer.headers["content-type"] == "application/problem+json"
    assert count(admin, "imports", org_a) == 0


async def test_formula_cells_are_kept_as_text_and_imports_are_the_organisations_own(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, make_user: MakeUser, test_database: DatabaseUnderTest
) -> None:
    importer = await token_of(client, await make_user(org_a, "org_admin"))
    csv = 'Company\n"=HYPERLINK(""http://evil.example"",""x"")"\n@SUM(A1)\n'
    started = await start(
        client, importer, record_type="account", csv_base64=b64(csv), mapping={"Company": "name"}
    )
    done = await finished(client, importer, test_database, started.json()["id"])
    assert done["created"] == 2
    names = {a["name"] for a in (await client.get("/api/v1/accounts", headers=importer)).json()["items"]}
    assert names == {'=HYPERLINK("http://evil.example","x")', "@SUM(A1)"}
    assert (await client.get(f"{IMPORTS}/{done['id']}", headers=org_b.headers)).status_code == 404
    assert (await client.post(f"{IMPORTS}/{done['id']}/rollback", headers=org_b.headers)).status_code == 404
    rep = await token_of(client, await make_user(org_a))
    assert (await client.get(IMPORTS, headers=rep)).status_code == 403


@pytest.mark.parametrize("amount", ["Infinity", "NaN", "-5", "1e400", "12.3.4"])
async def test_an_amount_that_is_no_amount_is_a_row_error_not_a_failed_import(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, test_database: DatabaseUnderTest, amount: str
) -> None:
    importer = await token_of(client, await make_user(org_a, "org_admin"))
    await made(client, importer, "/api/v1/accounts", name="Acme", domain="acme.example")
    deals = f"Deal,Account,Amount\nGood,acme.example,10\nBad,acme.example,{amount}\n"
    mapping = {"Deal": "name", "Account": "account_domain", "Amount": "amount"}
    started = await start(client, importer, record_type="deal", csv_base64=b64(deals), mapping=mapping)
    done = await finished(client, importer, test_database, started.json()["id"])
    assert (done["status"], done["created"], done["failed"]) == ("completed", 1, 1)
    assert done["errors"][0]["field"] == "amount"
