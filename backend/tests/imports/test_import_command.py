"""`keel import` as an operator runs it: the file goes to a running API, a worker imports it, and the
command follows the progress to the end and reports what was taken and what was not."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKEND_DIR, DatabaseUnderTest, MakeOrg, keel_env, running_api
from tests.identity.conftest import MakeUser, authorization_server, make_user

__all__ = ["authorization_server", "make_user"]  # fixtures used here


@pytest.fixture
def api_and_worker(test_database: DatabaseUnderTest) -> Iterator[tuple[str, dict[str, str]]]:
    env = keel_env(test_database, KEEL_LOG_LEVEL="WARNING")
    worker = subprocess.Popen([sys.executable, "-m", "keel", "worker"], env=env, cwd=BACKEND_DIR)
    try:
        with running_api(env) as (base,):
            yield base, env
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.slow
def test_keel_import_sends_the_file_and_follows_it_to_the_end(
    api_and_worker: tuple[str, dict[str, str]], make_org: MakeOrg, make_user: MakeUser, tmp_path: Path
) -> None:
    base, env = api_and_worker
    org = asyncio.run(make_org("Importer"))
    owner = f"owner@{org.slug}.example"
    asyncio.run(make_user(org, "manager", email=owner))
    csv = tmp_path / "accounts.csv"
    rows = [f"Company {n},company{n}.example,{owner}" for n in range(5_000)]
    csv.write_text("Name,Domain,Owner\n" + "\n".join(rows) + "\n,missing.example,\n")

    def keel_import(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keel", "import", str(csv), "--type", "account",
             "--map", "Name=name", "--map", "Domain=domain", "--map", "Owner=owner_email", *extra],
            env={**env, "KEEL_URL": base, "KEEL_API_KEY": org.api_key, "COLUMNS": "200"},
            cwd=BACKEND_DIR, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    checked = keel_import("--dry-run")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "completed: 5000 would be created, 0 would be updated, 1 rows not taken" in checked.stdout
    assert "5002" in checked.stdout and "name is empty" in checked.stdout  # the bad row, by its line
    done = keel_import("--upsert-by", "domain")
    assert done.returncode == 0 and "completed: 5000 created" in done.stdout, done.stdout + done.stderr
    again = keel_import("--upsert-by", "domain")
    assert "0 created, 5000 updated" in again.stdout, again.stdout
    refused = keel_import("--map", "Nope=salary")
    assert refused.returncode == 1 and "salary" in refused.stdout
