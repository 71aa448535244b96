"""DPoP replay guard over the shared state (Redis when configured, memory otherwise)."""

from __future__ import annotations

from keel.core.cache import SharedState


class SharedStateReplayGuard:
    def __init__(self, state: SharedState) -> None:
        self._state = state

    async def first_use(self, jti: str, ttl_seconds: int) -> bool:
        return await self._state.add_once(f"dpop:jti:{jti}", ttl_seconds)
