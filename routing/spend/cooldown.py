"""Per-model cooldowns after a 429, shared by every worker through Redis, with a half-open
probe after each one.

When a provider says "retry after N seconds" for a model, every worker holds off that
model for N seconds, not just the one that was told. When the cooldown ends the model is
half-open: one call (the probe, whichever worker claims it first) goes ahead and the
others wait for it; a success closes it (everyone goes), another 429 starts a new
cooldown. So a rate-limit storm of T seconds costs about T / retry-after calls, not a
burst of every waiting task at each expiry.

A worker reads a model's state from Redis at most every `refresh` seconds (0.25 by
default) and answers from memory in between, so that the hot path costs no Redis round
trip per task while nothing is cooling down: a cooldown set by another worker is seen
within `refresh`, one set by this worker at once. Only a half-open model costs a round
trip per task (the probe's claim), for the few seconds it lasts.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import redis

from routing.keys import keyspace

# How long a model stays half-open after its cooldown if no call succeeds (a probe that
# never answers, a worker that died mid-probe): then it is simply open again.
HALF_OPEN_SECONDS = 120.0
# How long one probe holds its claim; a probe call taking longer lets a second one go.
PROBE_SECONDS = 30.0
# How long a task waits before looking again while another worker probes.
PROBE_WAIT = 1.0


@dataclass(slots=True)
class _Seen:
    read_at: float  # monotonic time of the Redis read
    until: float  # monotonic time the cooldown ends
    half_open: bool  # a 429 was seen and no call has succeeded since


class Cooldowns:
    def __init__(self, client: redis.Redis, namespace: str, *, refresh: float = 0.25) -> None:
        self._redis = client
        self._prefix = f"{keyspace(namespace)}:cooldown:"
        self._refresh = refresh
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self._token = uuid.uuid4().hex  # this process's claim on a probe

    def _keys(self, model: str) -> tuple[str, str, str]:
        base = self._prefix + model
        return base, base + ":half-open", base + ":probe"

    def start(self, model: str, seconds: float) -> None:
        """Hold `model` off for everyone for `seconds`, then probe it once."""
        ms = max(1, int(seconds * 1000))
        cool, half, probe = self._keys(model)
        # Keep the longer of an existing and a new cooldown.
        current = self._redis.pttl(cool)
        if not (isinstance(current, int) and current >= ms):
            current = ms
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(cool, "1", px=current)
            pipe.set(half, "1", px=current + int(HALF_OPEN_SECONDS * 1000))
            pipe.delete(probe)  # the probe (if this was one) has its answer: a 429
            pipe.execute()
        now = time.monotonic()
        with self._lock:
            self._seen[model] = _Seen(now, now + current / 1000, True)

    def remaining(self, model: str) -> float:
        """Seconds before this task may call `model`: what is left of its cooldown, or,
        while it is half-open, until the probe in flight has answered. 0: go (this task
        may be the probe)."""
        now = time.monotonic()
        seen = self._seen.get(model)
        if seen is None or now - seen.read_at > self._refresh:
            seen = self._read(model, now)
        if seen.until > now:
            return seen.until - now
        if not seen.half_open:
            return 0.0
        _, _, probe = self._keys(model)
        if self._redis.set(probe, self._token, nx=True, px=int(PROBE_SECONDS * 1000)):
            return 0.0
        return PROBE_WAIT

    def succeeded(self, model: str) -> None:
        """A call of `model` succeeded: if it was half-open (this process saw a 429 or a
        probe), close it for everyone. Free otherwise: no Redis round trip."""
        seen = self._seen.get(model)
        if seen is None or not seen.half_open:
            return
        _, half, probe = self._keys(model)
        self._redis.delete(half, probe)
        with self._lock:
            self._seen[model] = _Seen(time.monotonic(), 0.0, False)

    def _read(self, model: str, now: float) -> _Seen:
        cool, half, _ = self._keys(model)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.pttl(cool)
            pipe.exists(half)
            ms, half_open = pipe.execute()
        until = now + (ms / 1000 if isinstance(ms, int) and ms > 0 else 0.0)
        seen = _Seen(now, until, bool(half_open))
        with self._lock:
            self._seen[model] = seen
        return seen
