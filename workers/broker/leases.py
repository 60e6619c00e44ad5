"""Leases on deliveries, kept in Redis next to kombu's own bookkeeping (no kombu here).

kombu keeps every unacknowledged delivery in the hash `unacked` (tag -> message, exchange,
routing key) and its delivery time in the sorted set `unacked_index`; a delivery older
than the visibility timeout goes back to its queue. That timeout must outlast the longest
task, so the deliveries of a worker that died wait for it (11 minutes with the shipped
config). Here each delivery also has a lease in `unacked_lease`: its holder renews it every
`renew` seconds (Redis `TIME`, so worker clocks do not matter), and a delivery whose lease
is older than `timeout` goes back at once. The visibility timeout stays the outer bound.

The hash `unacked_clock` tells an outage from a death. Every live worker beats in it with
each renewal and each sweep; a beat that finds the previous one older than `gap` marks
`resumed`: the workers had lost Redis (a restart, a network cut), so every lease is
stale. A lease older than `resumed` is then honoured for `grace` more seconds, long
enough for each live holder to renew it. `epoch` is a random value set once: a Redis
that came back without its data has another one, which tells a worker to register its
running deliveries again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from routing.decode import text
from workers.broker.errors import LeaseOptionsError

#: Seconds a worker waits for a TCP connection to Redis before it tries again later.
CONNECT_TIMEOUT = 3.0
#: The most expired leases one sweep restores (the next sweep takes the rest).
SWEEP_LIMIT = 1000


@dataclass(frozen=True)
class LeaseOptions:
    """`timeout`: seconds without renewal after which a delivery goes back to its queue;
    `renew`: seconds between two renewals by its holder."""

    timeout: float = 20.0
    renew: float = 4.0

    def __post_init__(self) -> None:
        if self.renew <= 0 or self.timeout < 3 * self.renew + 6:
            raise LeaseOptionsError(
                f"lease_timeout={self.timeout:g} and lease_renew_interval={self.renew:g}: the "
                f"lease must be at least 3 x renew + 6 seconds (renew > 0), so that a live "
                f"worker renews it through an unnoticed outage; lower the renew interval or "
                f"raise the lease"
            )

    @property
    def gap(self) -> float:
        """No beat for longer than this: the workers had lost Redis."""
        return self.renew + 2.0

    @property
    def grace(self) -> float:
        """After such a gap, the time every live holder needs to renew its leases."""
        return 2 * self.renew + CONNECT_TIMEOUT


@dataclass(frozen=True)
class LeaseKeys:
    """Full names (the global key prefix included) of the keys of one broker."""

    unacked: str
    index: str
    lease: str
    clock: str


@dataclass(frozen=True)
class Beat:
    now: float
    epoch: str


class Script:
    """A Lua script run with EVALSHA (EVAL when Redis does not have it, e.g. restarted)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: redis.Redis, keys: Sequence[str],
                 args: Sequence[str | int | float]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.text, len(keys), *keys, *args)


_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = string.format('%.6f', now)
"""

# KEYS: unacked, index, lease, clock; ARGV: tag, payload, delivery time, epoch candidate
_APPEND = Script(_NOW + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], stamp, ARGV[1])
redis.call('HSETNX', KEYS[4], 'epoch', ARGV[4])
return redis.call('HGET', KEYS[4], 'epoch')
""")

# KEYS: unacked, index, lease; ARGV: tag. An acknowledgement: the delivery leaves kombu's
# hash and index and its lease, at once (as kombu's MULTI/EXEC, in one reply).
_REMOVE = Script("""
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
""")

# A worker connected to Redis beats in the clock (KEYS[1]); after a silence longer than
# the gap (ARGV[1]), it marks the resumption.
_CLOCK = _NOW + """
local beat = tonumber(redis.call('HGET', KEYS[1], 'beat'))
if (not beat) or now - beat > tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'resumed', stamp)
end
redis.call('HSET', KEYS[1], 'beat', stamp)
"""

# KEYS: clock, lease; ARGV: gap, epoch candidate, tags to renew...
_BEAT = Script(_CLOCK + """
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[2])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[2], 'XX', stamp, ARGV[i])
end
return {stamp, redis.call('HGET', KEYS[1], 'epoch')}
""")

# KEYS: clock, lease; ARGV: gap, timeout, grace, limit, the sweeper's own tags...
# Beats (the sweeper is connected: the first worker back after an outage must see the
# silence before it sweeps), then claims (removes the lease of) each expired delivery
# that is not the sweeper's own; returns tag, seconds since its last renewal for each;
# the caller puts them back.
_SWEEP = Script(_CLOCK + """
local resumed = tonumber(redis.call('HGET', KEYS[1], 'resumed'))
local own = {}
for i = 5, #ARGV do own[ARGV[i]] = true end
local ceil = string.format('%.6f', now - tonumber(ARGV[2]))
local rows = redis.call('ZRANGE', KEYS[2], '-inf', ceil, 'BYSCORE',
                        'LIMIT', 0, tonumber(ARGV[4]), 'WITHSCORES')
local settled = now - resumed >= tonumber(ARGV[3])
local claimed = {}
for i = 1, #rows, 2 do
  local tag, score = rows[i], tonumber(rows[i + 1])
  if not own[tag] and (settled or score >= resumed) then
    redis.call('ZREM', KEYS[2], tag)
    table.insert(claimed, tag)
    table.insert(claimed, string.format('%.1f', now - score))
  end
end
return claimed
""")


def append(client: redis.Redis, keys: LeaseKeys, tag: str, payload: str,
           delivered_at: float, epoch: str) -> str:
    """Record a delivery (kombu's hash and index, and a fresh lease); the data epoch."""
    out = _APPEND(client, (keys.unacked, keys.index, keys.lease, keys.clock),
                  (tag, payload, repr(delivered_at), epoch))
    return text(out)


def remove(client: redis.Redis, keys: LeaseKeys, tag: str) -> None:
    """Forget an acknowledged delivery: kombu's hash and index, and its lease."""
    _REMOVE(client, (keys.unacked, keys.index, keys.lease), (tag,))


def beat(client: redis.Redis, keys: LeaseKeys, options: LeaseOptions, epoch: str,
         tags: Sequence[str]) -> Beat:
    """Beat in the clock and renew the leases of `tags` (those Redis still has)."""
    now, current = _BEAT(client, (keys.clock, keys.lease), (repr(options.gap), epoch, *tags))
    return Beat(float(text(now)), text(current))


def sweep(client: redis.Redis, keys: LeaseKeys, options: LeaseOptions,
          own: Sequence[str]) -> list[tuple[str, float]]:
    """Claim the expired deliveries of other workers: (tag, seconds since renewal)."""
    out = _SWEEP(client, (keys.clock, keys.lease),
                 (repr(options.gap), repr(options.timeout), repr(options.grace), SWEEP_LIMIT,
                  *own))
    flat = [text(v) for v in out]
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def write_back(client: redis.Redis, keys: LeaseKeys, acked: Sequence[str],
               missing: Sequence[tuple[str, str]], now: float) -> None:
    """Forget deliveries acknowledged while Redis was away; register again (tag, payload)
    deliveries a Redis that lost its data no longer has, with a fresh lease."""
    with client.pipeline(transaction=True) as pipe:
        for tag in acked:
            pipe.hdel(keys.unacked, tag)
            pipe.zrem(keys.index, tag)
            pipe.zrem(keys.lease, tag)
        for tag, payload in missing:
            pipe.hsetnx(keys.unacked, tag, payload)
            pipe.zadd(keys.index, {tag: now}, nx=True)
            pipe.zadd(keys.lease, {tag: now})
        pipe.execute()
