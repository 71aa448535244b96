"""Rate limits count in Redis when it is configured, so every API process shares one window."""

from __future__ import annotations

import secrets

import pytest
from limits.aio.storage import MemoryStorage
from redis.asyncio import Redis

from keel.core.cache import MemoryState, RedisState, SharedState
from keel.core.errors import Problem
from keel.core.ratelimit import RateLimiter, Window, limit, redis_storage


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


# The request limits: sliding windows counted with the request's other shared state, in one round trip.


def test_a_window_names_this_and_the_last_window_and_how_much_of_the_last_still_counts() -> None:
    window = Window.of("org:x", 60, now=60 * 1000 + 15)
    assert window.key == "rate:org:x:60:1000" and window.previous == "rate:org:x:60:999"
    assert window.overlap == pytest.approx(0.75) and window.retry_after == 45
    assert window.counter == ("rate:org:x:60:1000", 120)  # still there while it is the previous one


@pytest.mark.parametrize(
    ("previous", "count", "refused"),
    [(None, 10, False), (None, 11, True), ("8", 4, False), ("8", 5, True), ("40", 1, True)],
)
def test_the_previous_window_counts_by_its_overlap(previous: str | None, count: int, refused: bool) -> None:
    window = Window.of("org:x", 60, now=60 * 1000 + 15)  # 0.75 of the last window still counts
    item = limit("10/minute")
    if not refused:
        window.check(item, count, previous)
        return
    with pytest.raises(Problem) as too_many:
        window.check(item, count, previous)
    assert too_many.value.status == 429 and too_many.value.headers["Retry-After"] == "45"


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_read_and_count_reads_values_and_counts_up_in_one_go(backend: str, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    state: SharedState = MemoryState() if backend == "memory" else RedisState(redis)
    prefix = secrets.token_hex(6)
    await state.put(f"{prefix}:a", "one", 60)
    values, counts = await state.read_and_count(
        [f"{prefix}:a", f"{prefix}:missing"], [(f"{prefix}:c1", 30), (f"{prefix}:c2", 30)]
    )
    assert values == ["one", None] and counts == [1, 1]
    values, counts = await state.read_and_count([], [(f"{prefix}:c1", 30)])
    assert values == [] and counts == [2]
    if backend == "redis":
        assert 0 < await redis.ttl(f"{prefix}:c1") <= 30  # the lifetime runs from the first count
    await redis.aclose()
