"""Tasks deferred until a budget window resets: parked in Redis, released when due.

A deferred task is a re-publishable Celery signature (same task id) kept in a sorted set
scored by the time it may run again. Every worker runs a small releaser thread that
claims due entries atomically (a Lua script moves each one a lease into the future, so
that two workers never release the same entry), publishes them, then deletes them. A
worker that dies between claim and publish leaves the entry to be claimed again when the
lease runs out: nothing is lost, at worst a task is released twice.

Parking happens before the original message is acknowledged, so a crash in between
redelivers the message rather than losing it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from routing.decode import text
from routing.keys import keyspace

log = logging.getLogger(__name__)

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""


class DeferredTasks:
    def __init__(self, client: redis.Redis, namespace: str, *, lease_seconds: float = 30) -> None:
        self._redis = client
        self.key = f"{keyspace(namespace)}:deferred"
        self._lease = lease_seconds
        self._claim = client.register_script(_CLAIM)

    def park(self, payload: dict[str, Any], due: float) -> None:
        self._redis.zadd(self.key, {json.dumps(payload, sort_keys=True): due})

    def claim_due(self, now: float | None = None, limit: int = 100) -> list[str]:
        now = time.time() if now is None else now
        members = self._claim(keys=[self.key], args=[now, now + self._lease, limit])
        return [text(m) for m in members or []]

    def done(self, member: str) -> None:
        self._redis.zrem(self.key, member)

    def count(self) -> int:
        return int(self._redis.zcard(self.key))

    def pending(self, limit: int = 100) -> list[tuple[dict[str, Any], float]]:
        rows: list[tuple[bytes, float]] = self._redis.zrange(  # type: ignore[assignment]
            self.key, 0, limit - 1, withscores=True
        )
        return [(json.loads(member), float(score)) for member, score in rows]


class Releaser:
    """A daemon thread that publishes due deferred tasks through `publish`."""

    def __init__(
        self,
        deferred: DeferredTasks,
        publish: Callable[[dict[str, Any]], None],
        *,
        interval: float = 0.5,
    ) -> None:
        self._deferred = deferred
        self._publish = publish
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llmr-deferred", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def release_due(self) -> int:
        released = 0
        for member in self._deferred.claim_due():
            self._publish(json.loads(member))
            self._deferred.done(member)
            released += 1
        return released

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                released = self.release_due()
                if released:
                    log.info("released %d deferred task(s)", released)
            except redis.RedisError as exc:
                log.warning("deferred-task releaser: Redis error (%s); will retry", exc)
