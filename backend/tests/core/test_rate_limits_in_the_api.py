"""Limits per organisation (by plan), per user, and stricter ones per address on sign-in and tokens;
two real API processes share one window through Redis."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from keel.core.config import get_settings
from keel.core.platform import platform_unit_of_work
from keel.organizations.service import set_plan
from tests.conftest import MakeOrg, Org
from tests.identity.conftest import (
    WEB_CLIENT,
    MakeUser,
    authorization_server,
    bearer,
    csrf_of,
    make_user,
    tokens_for,
)

__all__ = ["authorization_server", "make_user"]  # fixtures used here
ORG = "/api/v1/organization"


async def statuses(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[int]:
    return [(await client.get(ORG, headers=headers)).status_code for _ in range(n)]


async def test_an_organisations_plan_sets_its_limit(
    client: httpx.AsyncClient, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        get_settings(), "plan_rate_limits", {"standard": "2/minute", "enterprise": "4/minute"}
    )
    small, big = await make_org("Small"), await make_org("Big")
    async with platform_unit_of_work("tests") as uow:
        await set_plan(uow, big.slug, "enterprise")
    assert await statuses(client, small.headers, 3) == [200, 200, 429]
    assert await statuses(client, big.headers, 5) == [200, 200, 200, 200, 429]
    refused = await client.get(ORG, headers=big.headers)
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["ratelimit-remaining"] == "0"


async def test_an_unknown_plan_is_refused(org_a: Org) -> None:
    from keel.core.errors import Problem

    with pytest.raises(Problem, match="Unknown plan"):
        async with platform_unit_of_work("tests") as uow:
            await set_plan(uow, org_a.slug, "platinum")


async def test_each_user_has_a_limit_of_their_own(
    client: httpx.AsyncClient, org_a: Org, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await make_user(org_a), await make_user(org_a)
    tokens = await tokens_for(client, first)
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other:
        other_tokens = await tokens_for(other, second)
    monkeypatch.setattr(get_settings(), "rate_limit_user", "2/minute")
    assert await statuses(client, bearer(tokens["access_token"]), 3) == [200, 200, 429]
    assert await statuses(client, bearer(other_tokens["access_token"]), 2) == [200, 200]
    assert await statuses(client, org_a.headers, 2) == [200, 200]  # an API key is no user


async def test_sign_in_forms_are_limited_per_address(
    client: httpx.AsyncClient, authorization_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit_sign_in", "3/minute")
    token = csrf_of(await client.get("/login"))
    answers = [
        (
            await client.post("/login", data={"csrf": token, "email": "a@example.com", "password": "x"})
        ).status_code
        for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    page = await client.post("/password/forgot", data={"csrf": token, "email": "a@example.com"})
    assert (
        page.status_code == 429
        and "text/html" in page.headers["content-type"]
        and "retry-after" in page.headers
    )


async def test_the_token_endpoint_is_limited_per_address(
    client: httpx.AsyncClient, authorization_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit_token", "2/minute")
    form = {"grant_type": "refresh_token", "refresh_token": "x" * 80, "client_id": WEB_CLIENT}
    answers = [await client.post("/oauth/token", data=form) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[-1].json()["error"] == "slow_down" and "retry-after" in answers[-1].headers


@pytest.mark.slow
def test_two_api_processes_share_one_limit_through_redis(
    two_api_processes: list[str], make_org: MakeOrg
) -> None:
    async def metered_org() -> Org:
        org = await make_org("Shared")
        async with platform_unit_of_work("tests") as uow:
            await set_plan(uow, org.slug, "metered")  # 4 requests a minute (tests/conftest.py)
        return org

    org = asyncio.run(metered_org())  # committed before the requests
    first, second = two_api_processes
    answers = [
        httpx.get(f"{base}{ORG}", headers=org.headers).status_code
        for base in (first, second, first, second, first, second)
    ]
    assert answers == [200, 200, 200, 200, 429, 429]
