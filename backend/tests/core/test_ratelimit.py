"""Rate limits count in Redis when it is configured, so every API process shares one window."""

from __future__ import annotations

import secrets

import pytest
from limits.aio.storage import MemoryStorage

from keel.core.errors import Problem
from keel.core.ratelimit import RateLimiter, redis_storage


async def test_two_api_processes_share_one_window_through_redis(redis_url: str) -> None:
    # Two limiters with their own connections stand for two API processes.
    first = RateLimiter(redis_storage(redis_url), "3/minute")
    second = RateLimiter(redis_storage(redis_url), "3/minute")
    key = f"org:{secrets.token_hex(8)}"
    await first.hit(key)
    await second.hit(key)
    await first.hit(key)
    with pytest.raises(Problem) as refused:
        await second.hit(key)
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert refused.value.headers["RateLimit-Remaining"] == "0"


async def test_limits_are_per_key() -> None:
    limiter = RateLimiter(MemoryStorage(), "1/minute")
    await limiter.hit("org:a")
    await limiter.hit("org:b")
    with pytest.raises(Problem):
        await limiter.hit("org:a")
