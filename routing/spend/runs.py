"""Spend per agent, per tag and per run: reads of what the settle script counts, and the
operator's stop.

The settle (`routing.spend.lua`, one EVALSHA per call) adds each attributed call to the
day's per-agent and per-tag rows (`p:ledger:<day>:attr`), to its run's hash
(`p:run:<run id>`: counters, cap, stop flag) and list of calls, and to the day's runs by
spend (`p:ledger:<day>:runs`). The reservation (same script family) checks the run's cap
and stop flag. Here: reading them back, and `stop`, which makes the next reservation of
the run, on any worker, refuse it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from routing.attribution_names import RUN_ID_MAX, check_name
from routing.decode import text
from routing.keys import day_key, keyspace, run_key
from routing.money import usd

DAY = 86400
#: The counters of an agent, tag or run (production; `trial_<metric>` apart).
METRICS = ("calls", "micros", "input_tokens", "output_tokens", "cache_read_tokens",
           "cache_write_tokens", "errors", "estimated_micros")


@dataclass(frozen=True, slots=True)
class Spend:
    """The counters of one agent, tag or run over some days."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)

    def get(self, metric: str) -> int:
        return self.counts.get(metric, 0)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for metric in (*METRICS, *(f"trial_{m}" for m in METRICS)):
            if metric in self.counts or metric in ("calls", "micros"):
                out[metric] = self.get(metric)
        out["cost_usd"] = usd(self.get("micros"))
        if self.get("trial_micros"):
            out["trial_cost_usd"] = usd(self.get("trial_micros"))
        return out


@dataclass(frozen=True, slots=True)
class Run:
    """One run: its counters, cap, state and calls in order."""

    run_id: str
    fields: dict[str, str]
    calls: list[dict[str, Any]]

    def _int(self, name: str) -> int:
        return int(self.fields.get(name) or 0)

    @property
    def state(self) -> str:
        if self.fields.get("stopped"):
            return "stopped"
        if self.fields.get("exceeded"):
            return "capped"
        return "open"

    def as_dict(self) -> dict[str, Any]:
        cap_m, cap_c = self.fields.get("cap_micros"), self.fields.get("cap_calls")
        out: dict[str, Any] = {
            "run_id": self.run_id, "agent": self.fields.get("agent") or None,
            "state": self.state, "why": self.fields.get("exceeded") or (
                "stopped" if self.fields.get("stopped") else None),
            "calls": self._int("calls"), "started": self._int("started"),
            "refused": self._int("refused"), "errors": self._int("errors"),
            "micros": self._int("micros"), "cost_usd": usd(self._int("micros")),
            "reserved_micros": self._int("reserved"),
            "input_tokens": self._int("input_tokens"),
            "output_tokens": self._int("output_tokens"),
            "trial_calls": self._int("trial_calls"), "trial_micros": self._int("trial_micros"),
            "cap_micros": int(cap_m) if cap_m else None,
            "cap_usd": usd(int(cap_m)) if cap_m else None,
            "cap_calls": int(cap_c) if cap_c else None,
            "first_ts": float(self.fields["first_ts"]) if self.fields.get("first_ts") else None,
            "last_ts": float(self.fields["last_ts"]) if self.fields.get("last_ts") else None,
            "agents": self.agents(),
            "calls_in_order": self.calls,
        }
        return out

    def agents(self) -> dict[str, dict[str, int]]:
        """Calls and micro-dollars per agent of the run's production calls."""
        out: dict[str, dict[str, int]] = {}
        for call in self.calls:
            if call.get("trial"):
                continue
            row = out.setdefault(str(call.get("agent") or self.fields.get("agent") or "-"),
                                 {"calls": 0, "micros": 0})
            row["calls"] += 1
            row["micros"] += int(call.get("cost_micros") or 0)
        return out


class RunBook:
    """Runs and per-agent/tag spend of one namespace (any redis-py compatible client)."""

    def __init__(self, client: redis.Redis, namespace: str, *, run_keep_days: int = 30) -> None:
        self.client = client
        self.prefix = keyspace(namespace)
        self.run_keep_days = run_keep_days

    def show(self, run_id: str) -> Run | None:
        """The run, or None when no call of it is known (or it expired). One round trip."""
        run_id = check_name("run_id", run_id, RUN_ID_MAX)
        key = run_key(self.prefix, run_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.lrange(f"{key}:calls", 0, -1)
            raw, calls = pipe.execute()
        if not raw:
            return None
        fields = {text(k): text(v) for k, v in raw.items()}
        return Run(run_id, fields, [json.loads(text(c)) for c in calls])

    def stop(self, run_id: str) -> Run:
        """Refuse every further call of `run_id`, on every worker, from now on (the next
        reservation reads the flag: one atomic HSET). Idempotent; works before the run's
        first call too."""
        run_id = check_name("run_id", run_id, RUN_ID_MAX)
        key = run_key(self.prefix, run_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"stopped": "1", "stopped_at": f"{time.time():.3f}"})
            pipe.hsetnx(key, "first_ts", f"{time.time():.0f}")
            pipe.expire(key, self.run_keep_days * DAY)
            pipe.execute()
        run = self.show(run_id)
        assert run is not None
        return run

    def dearest(self, days: list[str], n: int = 10) -> list[tuple[str, int]]:
        """The `n` runs that spent most over `days` (production), dearest first."""
        with self.client.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.zrange(day_key(self.prefix, day, "runs"), 0, -1, withscores=True)
            replies = pipe.execute()
        total: dict[str, int] = {}
        for reply in replies:
            for member, score in reply:
                total[text(member)] = total.get(text(member), 0) + int(score)
        return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def spend(self, days: list[str]) -> dict[str, dict[str, Spend]]:
        """Per kind (`agent`, `tag`): name -> its counters summed over `days`."""
        with self.client.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(day_key(self.prefix, day, "attr"))
            replies = pipe.execute()
        sums: dict[str, dict[str, dict[str, int]]] = {"agent": {}, "tag": {}}
        for raw in replies:
            for k, v in raw.items():
                kind, name, metric = text(k).split("|", 2)
                row = sums.setdefault(kind, {}).setdefault(name, {})
                row[metric] = row.get(metric, 0) + int(v)
        return {kind: {name: Spend(name, counts) for name, counts in sorted(rows.items())}
                for kind, rows in sums.items()}

    def runs(self, days: list[str], n: int = 1000) -> list[dict[str, Any]]:
        """The `n` dearest runs of `days`: id, agent, state, their spend on those days
        (`day_micros`) and in all (`micros`), calls. One pipelined round trip more."""
        top = self.dearest(days, n)
        with self.client.pipeline(transaction=False) as pipe:
            for run_id, _ in top:
                pipe.hgetall(run_key(self.prefix, run_id))
            replies = pipe.execute()
        out = []
        for (run_id, micros), raw in zip(top, replies, strict=True):
            view = Run(run_id, {text(k): text(v) for k, v in raw.items()}, []).as_dict()
            del view["calls_in_order"], view["agents"]
            view["day_micros"] = micros
            view["day_cost_usd"] = usd(micros)
            out.append(view)
        return out
