"""Rate limits with `limits`: a moving window in Redis when REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from keel.core.config import get_settings
from keel.core.errors import Problem


class RateLimiter:
    def __init__(self, storage: Storage, default: str) -> None:
        # limits' in-memory moving window re-sweeps every key on each hit; in one process the
        # sliding-window counter gives the same protection at a fraction of the cost.
        strategy = (
            SlidingWindowCounterRateLimiter if isinstance(storage, MemoryStorage) else MovingWindowRateLimiter
        )
        self._limiter: MovingWindowRateLimiter | SlidingWindowCounterRateLimiter = strategy(storage)
        self.default: RateLimitItem = parse(default)

    async def hit(self, key: str, limit: RateLimitItem | None = None) -> None:
        """Count one request against `key`; raise 429 with Retry-After once the window is full."""
        item = limit or self.default
        if await self._limiter.hit(item, key):
            return
        stats = await self._limiter.get_window_stats(item, key)
        raise too_many(item, max(1, math.ceil(stats.reset_time - time.time())))


def too_many(item: RateLimitItem, retry_after: int) -> Problem:
    return Problem(
        429,
        f"Too many requests: the limit is {item}. Try again in {retry_after} s.",
        headers={
            "Retry-After": str(retry_after),
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry_after),
        },
    )


@dataclass(frozen=True)
class Window:
    """A limit counted in fixed windows and read as a sliding one: this window's count plus the previous
    window's, weighted by how much of it still overlaps the last `length` seconds. Its counters go
    through shared state with the request's other reads (`SharedState.read_and_count`), so the limits
    of a request cost no round trip of their own. Refused requests count too: a client that keeps
    sending while refused stays refused."""

    length: int  # seconds
    key: str  # this window's counter
    previous: str  # the last window's
    overlap: float  # the share of the last window still inside the sliding one
    retry_after: int  # seconds until this window ends

    @classmethod
    def of(cls, name: str, length: int, now: float) -> Window:
        number, into = divmod(now, length)
        base = f"rate:{name}:{length}:"
        return cls(
            length,
            f"{base}{int(number)}",
            f"{base}{int(number) - 1}",
            1 - into / length,
            max(1, math.ceil(length - into)),
        )

    @property
    def counter(self) -> tuple[str, int]:
        return self.key, 2 * self.length  # kept while it is the previous window

    def check(self, item: RateLimitItem, count: int, previous: str | None) -> None:
        """Raise 429 when this request, counted as `count`, takes the sliding window over `item`."""
        if int(previous or 0) * self.overlap + count > item.amount:
            raise too_many(item, self.retry_after)


@lru_cache(maxsize=64)
def limit(text: str) -> RateLimitItem:
    """A limit such as "30/minute", parsed once."""
    return parse(text)


def redis_storage(url: str) -> RedisStorage:
    """Window counters in Redis (redis-py client), shared by every API process."""
    return RedisStorage(url if url.startswith("async+") else "async+" + url, implementation="redispy")


@lru_cache
def get_rate_limiter() -> RateLimiter:
    settings = get_settings()
    url = settings.redis_url
    storage: Storage = redis_storage(url.get_secret_value()) if url else MemoryStorage()
    return RateLimiter(storage, settings.rate_limit)


async def count_export(org_id: UUID) -> None:
    """Every export (CRM lists, the audit trail, compliance archives) shares the organisation's export
    limit (`KEEL_RATE_LIMIT_EXPORT`): they are heavy and they carry data out."""
    await get_rate_limiter().hit(f"export:{org_id}", limit(get_settings().rate_limit_export))
