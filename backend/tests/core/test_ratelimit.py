"""Rate limits count in Redis when it is configured, so every API process shares one window."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from limits.aio.storage import MemoryStorage

from keel.core.errors import Problem
from keel.core.ratelimit import RateLimiter, redis_storage


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """TEST_REDIS_URL, else the local Redis on 6379, else a redis-server started for this module."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    if _answers(6379):
        yield "redis://127.0.0.1:6379/15"
        return
    binary = shutil.which("redis-server")
    assert binary, "these tests need Redis: set TEST_REDIS_URL or install redis-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"])
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


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
