"""Per-model cooldowns after a 429, shared by every worker through Redis.

When a provider says "retry after N seconds" for a model, every worker holds off that
model for N seconds, not just the one that was told. A worker reads a model's cooldown
from Redis at most every `refresh` seconds (0.25 by default) and answers from memory in
between, so that the hot path costs no Redis round trip per task: a cooldown set by
another worker is seen within `refresh`, and one set by this worker at once.
"""

from __future__ import annotations

import threading
import time

import redis


class Cooldowns:
    def __init__(self, client: redis.Redis, namespace: str, *, refresh: float = 0.25) -> None:
        self._redis = client
        self._prefix = f"{namespace}:cooldown:"
        self._refresh = refresh
        self._lock = threading.Lock()
        # model -> (monotonic time it was read, monotonic time its cooldown ends)
        self._seen: dict[str, tuple[float, float]] = {}

    def start(self, model: str, seconds: float) -> None:
        ms = max(1, int(seconds * 1000))
        key = self._prefix + model
        # Keep the longer of an existing and a new cooldown.
        current = self._redis.pttl(key)
        if not (isinstance(current, int) and current >= ms):
            self._redis.set(key, "1", px=ms)
            current = ms
        now = time.monotonic()
        with self._lock:
            self._seen[model] = (now, now + current / 1000)

    def remaining(self, model: str) -> float:
        """Seconds left on `model`'s cooldown (0 if none)."""
        now = time.monotonic()
        seen = self._seen.get(model)
        if seen is None or now - seen[0] > self._refresh:
            ms = self._redis.pttl(self._prefix + model)
            until = now + (ms / 1000 if isinstance(ms, int) and ms > 0 else 0.0)
            with self._lock:
                self._seen[model] = seen = (now, until)
        return max(0.0, seen[1] - now)
