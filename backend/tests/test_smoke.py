from __future__ import annotations

import httpx

from tests.conftest import Org


async def test_an_organisation_reads_its_own_profile(client: httpx.AsyncClient, org_a: Org) -> None:
    response = await client.get("/api/v1/organization", headers=org_a.headers)
    assert response.status_code == 200
    assert response.json()["slug"] == org_a.slug
