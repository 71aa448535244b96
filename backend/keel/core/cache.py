"""Short-lived shared state: Redis when REDIS_URL is set, this process's memory otherwise.

Holds things every API process must agree on for minutes, never the source of truth: revocation
marks for access tokens, DPoP proof ids already seen, login throttles.
"""

from __future__ import annotations

import secrets
import time
from functools import lru_cache
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis

from keel.core.config import get_settings


class SharedState(Protocol):
    async def put(self, key: str, value: str, ttl_seconds: int) -> None: ...

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        """True the first time `key` is added within its lifetime; False while it lives."""
        ...

    async def get_many(self, keys: list[str]) -> list[str | None]: ...

    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Count up; the count lives `ttl_seconds` from its first increment."""
        ...

    async def delete(self, key: str) -> None: ...

    async def read_and_count(
        self, keys: list[str], counters: list[tuple[str, int]]
    ) -> tuple[list[str | None], list[int]]:
        """The values of `keys`, and each counter (key, lifetime in seconds) counted up as `incr`
        does: what a request needs of shared state, in one round trip."""
        ...


class RedisState:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        await self.redis.set(key, value, ex=ttl_seconds)

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self.redis.set(key, b"1", nx=True, ex=ttl_seconds))

    async def get_many(self, keys: list[str]) -> list[str | None]:
        values = await self.redis.mget(keys)
        return [v.decode() if isinstance(v, bytes) else v for v in values]

    async def incr(self, key: str, ttl_seconds: int) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl_seconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def delete(self, key: str) -> None:
        await self.redis.delete(key)

    async def read_and_count(
        self, keys: list[str], counters: list[tuple[str, int]]
    ) -> tuple[list[str | None], list[int]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            if keys:
                pipe.mget(keys)
            for key, ttl_seconds in counters:
                pipe.incr(key)
                pipe.expire(key, ttl_seconds, nx=True)
            replies = await pipe.execute()
        values = [v.decode() if isinstance(v, bytes) else v for v in (replies.pop(0) if keys else [])]
        return values, [int(count) for count in replies[::2]]


class MemoryState:
    """One process only: development and single-process deployments."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry[0]

    def _sweep(self) -> None:
        if len(self._values) > 50_000:
            now = time.monotonic()
            self._values = {k: v for k, v in self._values.items() if v[1] > now}

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        self._sweep()
        self._values[key] = (value, time.monotonic() + ttl_seconds)

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        if self._live(key) is not None:
            return False
        await self.put(key, "1", ttl_seconds)
        return True

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return [self._live(k) for k in keys]

    async def incr(self, key: str, ttl_seconds: int) -> int:
        current = self._live(key)
        if current is None:
            await self.put(key, "1", ttl_seconds)
            return 1
        count = int(current) + 1
        self._values[key] = (str(count), self._values[key][1])
        return count

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def read_and_count(
        self, keys: list[str], counters: list[tuple[str, int]]
    ) -> tuple[list[str | None], list[int]]:
        return await self.get_many(keys), [await self.incr(key, ttl) for key, ttl in counters]


GENERATION_TTL_SECONDS = 86_400


async def generation(state: SharedState, key: str) -> str:
    """The current generation of a family of cached values (put it in their keys). A random token, drawn
    anew when none is known, so a generation never comes back after it has been replaced or expired."""
    (current,) = await state.get_many([key])
    if current is None:
        current = secrets.token_hex(8)
        await state.put(key, current, GENERATION_TTL_SECONDS)
    return current


async def new_generation(state: SharedState, key: str) -> None:
    """Retire every value cached under the current generation of `key`."""
    await state.put(key, secrets.token_hex(8), GENERATION_TTL_SECONDS)


@lru_cache
def get_shared_state() -> SharedState:
    settings = get_settings()
    if settings.redis_url:
        # A full pool makes a request wait for a connection (then 503), never fail at once.
        pool = BlockingConnectionPool.from_url(
            settings.redis_url.get_secret_value(),
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_timeout_seconds,
        )
        return RedisState(Redis(connection_pool=pool))
    return MemoryState()
