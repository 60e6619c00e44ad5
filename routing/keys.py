"""Where a deployment's keys live in Redis: every key under one hash tag.

Every key the product writes starts with `{<namespace>}:` (`keyspace`): the braces are a
Redis Cluster hash tag, so all of a namespace's keys share one hash slot and a Lua script
may touch any of them. Scripts touch only the keys passed to them in KEYS
(`spend_keys`): the budget window, the reservations, and the ledger keys of the day before,
of and after the caller's UTC day (the script picks the Redis server's day among them, so
days follow one clock, the server's, whatever a host's drift within a day).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SPEND_KEY_COUNT = 28


def keyspace(namespace: str) -> str:
    """The prefix of every key of `namespace`: its hash tag."""
    return "{" + namespace + "}"


def candidate_days(now: float | None = None) -> list[str]:
    """The UTC days before, of and after `now` (default: this host's clock)."""
    at = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    day = at.date()
    return [(day + timedelta(days=n)).isoformat() for n in (-1, 0, 1)]


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
    keys = [f"{prefix}:budget:window:{window_seconds}", f"{prefix}:budget:resv",
            f"{prefix}:budget:reservations", f"{prefix}:budget:owners"]
    for name in ("agg", "calls", "trial", "trial_calls", "estimated"):
        keys += [day_key(prefix, day, name) for day in days]
    keys.append(settled_key(prefix, call_id or "-"))
    for name in ("attr", "runs"):
        keys += [day_key(prefix, day, name) for day in days]
    run = run_key(prefix, run_id or "-")
    keys += [run, f"{run}:calls"]
    assert len(keys) == SPEND_KEY_COUNT
    return keys
