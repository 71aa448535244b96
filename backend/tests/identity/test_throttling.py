"""Guessing is slowed with growing delays per account and address; the owner elsewhere is not locked out."""

from __future__ import annotations

import httpx

from keel.core.cache import MemoryState
from keel.identity import throttle
from tests.conftest import PUBLIC_URL, Org
from tests.identity.conftest import MakeUser, Person, csrf_of, sign_in


def browser_at(app, address: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)


async def attempt(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await http.get("/login")
    return await http.post("/login", data={"csrf": csrf_of(page), "email": email, "password": password})


async def test_delays_grow_then_cap_and_never_become_a_lockout() -> None:
    state = MemoryState()
    waits = []
    for _ in range(throttle.ACCOUNT_FROM_ADDRESS.allowance + 12):
        await throttle.failed(state, "login", "victim@example.com", "10.0.0.1")
        key = throttle._keys("login", "victim@example.com", "10.0.0.1")[0][1] + ":wait"
        waits.append(int((await state.get_many([key]))[0] or 0))
    allowance = throttle.ACCOUNT_FROM_ADDRESS.allowance
    assert waits[:allowance] == [0] * allowance
    assert waits[allowance : allowance + 4] == [2, 4, 8, 16]
    assert max(waits) == throttle.ACCOUNT_FROM_ADDRESS.cap_seconds  # bounded: a delay, not a lockout


async def test_repeated_failures_from_one_address_get_429_with_retry_after(
    app, org_a: Org, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(org_a)
    async with browser_at(app, "203.0.113.7") as attacker:
        for _ in range(throttle.ACCOUNT_FROM_ADDRESS.allowance + 1):  # the last one starts a delay
            assert (await attempt(attacker, user.email, "wrong password 123")).status_code == 400
        blocked = await attempt(attacker, user.email, "wrong password 123")
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        # Even the right password waits out the delay from that address.
        assert (await attempt(attacker, user.email, user.password)).status_code == 429


async def test_the_owner_at_another_address_still_signs_in(app, org_a: Org, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(org_a)
    async with browser_at(app, "203.0.113.7") as attacker:
        for _ in range(throttle.ACCOUNT_FROM_ADDRESS.allowance + 1):
            await attempt(attacker, user.email, "wrong password 123")
    async with browser_at(app, "198.51.100.20") as owner:
        assert (await sign_in(owner, user)).status_code == 303


async def test_unknown_accounts_are_throttled_exactly_like_known_ones(
    app, org_a: Org, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(org_a)
    ghost = Person(id=user.id, email="ghost@example.com", password="x")
    statuses = {}
    for who, address in ((user, "203.0.113.1"), (ghost, "203.0.113.2")):
        async with browser_at(app, address) as http:
            statuses[who.email] = [
                (await attempt(http, who.email, "wrong password 123")).status_code
                for _ in range(throttle.ACCOUNT_FROM_ADDRESS.allowance + 2)
            ]
    assert statuses[user.email] == statuses[ghost.email]


async def test_token_endpoint_slows_down_an_address_that_keeps_failing(
    app, authorization_server: None
) -> None:  # type: ignore[no-untyped-def]
    async with browser_at(app, "203.0.113.9") as http:
        form = {"grant_type": "refresh_token", "refresh_token": "x" * 40, "client_id": "test-web"}
        for _ in range(throttle.ADDRESS.allowance + 1):
            assert (await http.post("/oauth/token", data=form)).status_code == 400
        answer = await http.post("/oauth/token", data=form)
        assert answer.status_code == 429 and answer.json()["error"] == "slow_down"
        assert "retry-after" in answer.headers
    async with browser_at(app, "203.0.113.10") as elsewhere:
        assert (await elsewhere.post("/oauth/token", data=form)).status_code == 400
