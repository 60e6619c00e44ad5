"""Where a deployment's keys live in Redis: every key under one hash tag.

Every key the product writes starts with `{<namespace>}:` (`keyspace`): the braces are a
Redis Cluster hash tag, so all of a namespace's keys share one hash slot and a Lua script
may touch any of them. Scripts touch only the keys passed to them in KEYS
(`spend_keys`): the budget window, the reservations, and the ledger keys of the day before,
of and after the caller's UTC day (the script picks the Redis server's day among them, so
days follow one clock, the server's, whatever a host's drift within a day).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

SPEND_KEY_COUNT = 28
DAY_SECONDS = 86400


def keyspace(namespace: str) -> str:
    """The prefix of every key of `namespace`: its hash tag."""
    return "{" + namespace + "}"


def candidate_days(now: float | None = None) -> list[str]:
    """The UTC days before, of and after `now` (default: this host's clock)."""
    return list(_days_of(int((time.time() if now is None else now) // DAY_SECONDS)))


@lru_cache(maxsize=8)
def _days_of(day_number: int) -> tuple[str, str, str]:
    """`candidate_days` of the UTC day `day_number` (days since the epoch): worked out once
    a day, not at every reserve and settle."""
    day = datetime.fromtimestamp(day_number * DAY_SECONDS, UTC).date()
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    return before.isoformat(), day.isoformat(), after.isoformat()


def day_key(prefix: str, day: str, name: str) -> str:
    """A ledger key of one UTC day: `agg`, `calls`, `trial`, `trial_calls`, `estimated`."""
    return f"{prefix}:ledger:{day}:{name}"


def settled_key(prefix: str, call_id: str) -> str:
    """Set once a call id is settled (by its settle, or charged at its bound)."""
    return f"{prefix}:ledger:settled:{call_id}"


def claim_key(prefix: str, call_id: str) -> str:
    """Held by the one delivery that may make a call (`Ledger.claim`): a trial's sample."""
    return f"{prefix}:ledger:claimed:{call_id}"


def run_key(prefix: str, run_id: str) -> str:
    """A run's hash (caps, counters, stop flag); `...:calls` lists its calls in order."""
    return f"{prefix}:run:{run_id}"


def spend_keys(
    prefix: str, days: list[str], *, window_seconds: int = 0, call_id: str | None = None,
    run_id: str = "",
) -> list[str]:
    """KEYS of every budget and ledger script (see `routing.spend.lua`)."""
    before, after = _spend_key_parts(prefix, tuple(days), window_seconds, run_id)
    keys = [*before, settled_key(prefix, call_id or "-"), *after]
    assert len(keys) == SPEND_KEY_COUNT
    return keys


@lru_cache(maxsize=256)
def _spend_key_parts(prefix: str, days: tuple[str, ...], window_seconds: int, run_id: str
                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`spend_keys` before and after the call's settled key (the same for every call of a
    day, window and run: built once, not at every reserve and settle)."""
    before = [f"{prefix}:budget:window:{window_seconds}", f"{prefix}:budget:resv",
              f"{prefix}:budget:reservations", f"{prefix}:budget:owners"]
    for name in ("agg", "calls", "trial", "trial_calls", "estimated"):
        before += [day_key(prefix, day, name) for day in days]
    after = [day_key(prefix, day, name) for name in ("attr", "runs") for day in days]
    run = run_key(prefix, run_id or "-")
    after += [run, f"{run}:calls"]
    return tuple(before), tuple(after)
