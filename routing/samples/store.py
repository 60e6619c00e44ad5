"""Recorded samples in Redis: one sorted set, one hash of bodies and one of counters per
model key, under the namespace (`{<ns>}:samples:<key>...`), each with the key's retention
as TTL.

`record` is one EVALSHA (`routing.samples.lua.RECORD`): the sample stored, older ones
beyond the retention or the maximum count dropped, the TTLs set. A sample larger than
the key's `max_bytes` is not stored: `oversize` counts it (one HINCRBY). Reads prune the
expired samples first, so `show` never lists a sample past its retention.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from routing.config.samples import SampleSpec
from routing.decode import text
from routing.keys import keyspace
from routing.samples.lua import PRUNE, RECORD


@dataclass(frozen=True, slots=True)
class SampleSummary:
    """What `llm-router samples show` says of a key's samples (never their text)."""

    model_key: str
    count: int
    bytes: int
    first: float | None  # unix seconds
    last: float | None
    recorded: int  # samples recorded over the keys' life (within their TTL)
    oversize: int  # samples refused for their size (not stored)
    dropped_for_count: int  # dropped to keep the maximum count

    def as_dict(self) -> dict[str, Any]:
        return {"model_key": self.model_key, "count": self.count, "bytes": self.bytes,
                "first": _iso(self.first), "last": _iso(self.last), "recorded": self.recorded,
                "oversize": self.oversize, "dropped_for_count": self.dropped_for_count}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class SampleStore:
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.prefix = f"{keyspace(namespace)}:samples"
        self._record = client.register_script(RECORD)
        self._prune = client.register_script(PRUNE)

    def __repr__(self) -> str:
        return f"SampleStore(namespace={self.namespace!r})"

    def keys(self, model_key: str) -> list[str]:
        """The index, the bodies and the stats of `model_key`'s samples."""
        base = f"{self.prefix}:{model_key}"
        return [base, f"{base}:bodies", f"{base}:stats"]

    def record(self, model_key: str, sample_id: str, sample: dict[str, Any],
               spec: SampleSpec, *, now: float | None = None) -> bool:
        """Store `sample` (JSON-able); False when it is larger than `spec.max_bytes` (it
        is counted as oversize, nothing else is written)."""
        body = json.dumps(sample, separators=(",", ":"), ensure_ascii=False)
        if len(body.encode()) > spec.max_bytes:
            stats = self.keys(model_key)[2]
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(stats, "oversize", 1)
            pipe.expire(stats, spec.retention_seconds)
            pipe.execute()
            return False
        self._record(keys=self.keys(model_key),
                     args=[sample_id, f"{time.time() if now is None else now:.3f}", body,
                           spec.retention_seconds, spec.max_count])
        return True

    def prune(self, model_key: str, retention_seconds: int, *, now: float | None = None) -> int:
        """Drop `model_key`'s samples older than `retention_seconds`; how many."""
        index, bodies, _ = self.keys(model_key)
        return int(self._prune(keys=[index, bodies],
                               args=[f"{time.time() if now is None else now:.3f}",
                                     retention_seconds]))

    def ids(self, model_key: str, limit: int | None = None) -> list[str]:
        """Sample ids, newest first (at most `limit`)."""
        end = -1 if limit is None else max(0, limit - 1)
        return [text(m) for m in self.client.zrevrange(self.keys(model_key)[0], 0, end)]

    def load(self, model_key: str, sample_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(self.keys(model_key)[1], sample_id)
        return None if raw is None else dict(json.loads(raw))

    def samples(self, model_key: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The samples themselves (prompt text included), newest first."""
        ids = self.ids(model_key, limit)
        if not ids:
            return []
        raws = self.client.hmget(self.keys(model_key)[1], ids)
        return [dict(json.loads(r)) for r in raws if r is not None]

    def largest_input(self, model_key: str) -> int:
        """The largest input (tokens, cached ones included) of `model_key`'s samples."""
        largest = 0
        for raw in self.client.hvals(self.keys(model_key)[1]):
            usage = json.loads(raw).get("usage") or {}
            largest = max(largest, sum(int(usage.get(f, 0)) for f in
                                       ("input_tokens", "cache_read_tokens",
                                        "cache_write_tokens")))
        return largest

    def summary(self, model_key: str) -> SampleSummary:
        index, bodies, stats = self.keys(model_key)
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(index)
        pipe.zrange(index, 0, 0, withscores=True)
        pipe.zrevrange(index, 0, 0, withscores=True)
        pipe.hvals(bodies)
        pipe.hgetall(stats)
        count, first, last, values, counters = pipe.execute()
        counters = {text(k): int(v) for k, v in counters.items()}
        return SampleSummary(
            model_key, int(count), sum(len(v) for v in values),
            float(first[0][1]) if first else None, float(last[0][1]) if last else None,
            counters.get("recorded", 0), counters.get("oversize", 0),
            counters.get("dropped_for_count", 0))

    def purge(self, model_key: str) -> int:
        """Delete every sample of `model_key` and its counters; how many samples."""
        index = self.keys(model_key)[0]
        count = int(self.client.zcard(index))
        self.client.delete(*self.keys(model_key))
        return count
