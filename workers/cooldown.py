"""Per-model cooldowns after a 429, shared by every worker through Redis.

When a provider says "retry after N seconds" for a model, every worker holds off that
model for N seconds, not just the one that was told.
"""

from __future__ import annotations

import redis


class Cooldowns:
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._redis = client
        self._prefix = f"{namespace}:cooldown:"

    def start(self, model: str, seconds: float) -> None:
        ms = max(1, int(seconds * 1000))
        # Keep the longer of an existing and a new cooldown.
        current = self._redis.pttl(self._prefix + model)
        if isinstance(current, int) and current >= ms:
            return
        self._redis.set(self._prefix + model, "1", px=ms)

    def remaining(self, model: str) -> float:
        """Seconds left on `model`'s cooldown (0 if none)."""
        ms = self._redis.pttl(self._prefix + model)
        return ms / 1000 if isinstance(ms, int) and ms > 0 else 0.0
