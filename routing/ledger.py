"""The cost ledger: every provider call, settled and recorded in one EVALSHA.

`Ledger.settle(record)` releases the call's budget reservation (if any), adds its actual
cost to the spent counters of its budgets, and records it: day aggregates per model key x
model x tier (calls, errors, tokens, micro-dollars, and calls/cost flagged as fallback,
escalation, downgrade or run-after-deferral) and a per-call JSON record kept
`keep_days` days. The caller prices the call with the prices in force at call time
(`routing.pricing.cost_micros`); the ledger stores micro-dollars and never re-prices.

Days are UTC days of the Redis server's clock at settlement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date
from enum import StrEnum
from typing import Any

import redis

from routing.budget import window_ttl
from routing.decode import text
from routing.errors import BudgetExceededError
from routing.pricing import Usage
from routing.spend_lua import REFUSAL, SETTLE

DAY = 86400
FLAGS = ("fallback", "escalation", "downgrade", "deferred")


class Outcome(StrEnum):
    ok = "ok"
    error = "error"
    timeout = "timeout"
    deferred = "deferred"
    rejected = "rejected"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One provider call as the task layer saw it (a failed call too: its real usage).

    `deferred` marks a call that runs after its task was deferred for budget.
    """

    task_id: str
    call_id: str
    model_key: str
    model: str
    tier: str
    usage: Usage
    cost_micros: int
    attempt: int = 1
    config_version: int = 0
    outcome: Outcome = Outcome.ok
    fallback: bool = False
    escalation: bool = False
    downgrade: bool = False
    deferred: bool = False
    error: str | None = None

    def __post_init__(self) -> None:
        for name in ("task_id", "call_id", "model_key", "model", "tier"):
            _check_name(name, getattr(self, name))
        if not isinstance(self.cost_micros, int) or self.cost_micros < 0:
            raise ValueError(
                f"cost_micros must be a non-negative integer (micro-dollars), got "
                f"{self.cost_micros!r}; price the usage with routing.pricing.cost_micros"
            )
        if not isinstance(self.usage, Usage):
            raise ValueError(f"usage must be a routing.pricing.Usage, got {self.usage!r}")
        if self.attempt < 0 or self.config_version < 0:
            raise ValueError("attempt and config_version must be non-negative integers")
        if Outcome(self.outcome) in (Outcome.deferred, Outcome.rejected):
            raise ValueError(
                f"outcome '{self.outcome}' is not a call; use Ledger.record_deferral or "
                "Ledger.record_rejection"
            )

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f for f in FLAGS if getattr(self, f))

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id, "call_id": self.call_id, "model_key": self.model_key,
            "model": self.model, "tier": self.tier, **self.usage.as_dict(),
            "cost_micros": self.cost_micros, "attempt": self.attempt,
            "config_version": self.config_version, "outcome": str(self.outcome),
            **{f: getattr(self, f) for f in FLAGS}, "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Settlement:
    day: str
    released_micros: int
    duplicate: bool = False


@dataclass(slots=True)
class AggregateRow:
    """Day totals of one model key x model x tier (all integers; micros are micro-dollars)."""

    model_key: str
    model: str
    tier: str
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    micros: int = 0
    fallback_calls: int = 0
    fallback_micros: int = 0
    escalation_calls: int = 0
    escalation_micros: int = 0
    downgrade_calls: int = 0
    downgrade_micros: int = 0
    deferred_calls: int = 0
    deferred_micros: int = 0
    deferrals: int = 0
    deferrals_needed_micros: int = 0
    rejections: int = 0
    rejections_needed_micros: int = 0

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens,
                     self.cache_read_tokens, self.cache_write_tokens)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


METRICS = tuple(f.name for f in fields(AggregateRow) if f.type == "int")


@dataclass(frozen=True, slots=True)
class DayAggregates:
    day: str
    rows: list[AggregateRow] = field(default_factory=list)


def day_text(day: date | str) -> str:
    """A day as 'YYYY-MM-DD' (a bad string names the format)."""
    if isinstance(day, date):
        return day.isoformat()
    try:
        return date.fromisoformat(day).isoformat()
    except ValueError:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}") from None


class Ledger:
    """Settlement and the cost ledger of one namespace (any redis-py compatible client)."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        *,
        keep_days: int = 14,
        aggregate_keep_days: int | None = None,
    ) -> None:
        # aggregates are small: kept at least 400 days (and never less than the calls)
        if aggregate_keep_days is None:
            aggregate_keep_days = max(400, keep_days)
        if keep_days < 1 or aggregate_keep_days < keep_days:
            raise ValueError(
                f"keep_days must be >= 1 and aggregate_keep_days >= keep_days, got "
                f"{keep_days} and {aggregate_keep_days} (set LLM_ROUTER_LEDGER_DAYS)"
            )
        self.client = client
        self.namespace = namespace
        self.keep_days = keep_days
        self.aggregate_keep_days = aggregate_keep_days
        self._settle = client.register_script(SETTLE)
        self._refusal = client.register_script(REFUSAL)

    def __repr__(self) -> str:
        return f"Ledger(namespace={self.namespace!r}, keep_days={self.keep_days})"

    def settle(self, record: CallRecord, *, window_seconds: int = DAY) -> Settlement:
        """Release the call's reservation, charge its cost, record it: one EVALSHA.

        Without a reservation (budgets off, or it expired) the cost is charged to the
        current window of `window_seconds` (pass `config.budgets.window_seconds`).
        Settling a call id again changes nothing and returns `duplicate=True`.
        """
        u = record.usage
        args: list[str | int] = [
            self.namespace, window_seconds, record.call_id, record.model_key, record.model,
            record.tier, record.cost_micros, u.input_tokens, u.output_tokens,
            u.cache_read_tokens, u.cache_write_tokens, ",".join(record.flags),
            0 if record.outcome == Outcome.ok else 1, self.keep_days * DAY,
            self.aggregate_keep_days * DAY, window_ttl(window_seconds),
            json.dumps(record.as_dict(), separators=(",", ":")),
        ]
        ok, day, released = self._settle(keys=[], args=args)
        return Settlement(text(day), int(released), duplicate=not int(ok))

    def record_deferral(
        self, error: BudgetExceededError, *, task_id: str, call_id: str, model_key: str,
        model: str, tier: str, config_version: int = 0,
    ) -> str:
        """Count a task deferred for budget and list it with the day's calls (one EVALSHA).

        Returns the UTC day it was recorded under.
        """
        return self._refused("deferrals", Outcome.deferred, error, task_id, call_id,
                             model_key, model, tier, config_version)

    def record_rejection(
        self, error: BudgetExceededError, *, task_id: str, call_id: str, model_key: str,
        model: str, tier: str, config_version: int = 0,
    ) -> str:
        """Count a task rejected for budget (policy `reject`); one EVALSHA."""
        return self._refused("rejections", Outcome.rejected, error, task_id, call_id,
                             model_key, model, tier, config_version)

    def _refused(
        self, kind: str, outcome: Outcome, error: BudgetExceededError, task_id: str,
        call_id: str, model_key: str, model: str, tier: str, config_version: int,
    ) -> str:
        for name, value in (("task_id", task_id), ("call_id", call_id),
                            ("model_key", model_key), ("model", model), ("tier", tier)):
            _check_name(name, value)
        rec = {
            "task_id": task_id, "call_id": call_id, "model_key": model_key, "model": model,
            "tier": tier, "cost_micros": 0, "config_version": config_version,
            "outcome": str(outcome), "budget": error.budget,
            "needed_micros": error.needed_micros, "resets_at": error.resets_at,
        }
        args: list[str | int] = [
            self.namespace, model_key, model, tier, kind, error.needed_micros,
            self.keep_days * DAY, self.aggregate_keep_days * DAY,
            json.dumps(rec, separators=(",", ":")),
        ]
        return text(self._refusal(keys=[], args=args))

    # -- reads ---------------------------------------------------------------------------
    def day_aggregates(self, day: date | str) -> DayAggregates:
        """The aggregates of one UTC day, rows sorted by model key, model, tier."""
        day_key = day_text(day)
        raw = self.client.hgetall(f"{self.namespace}:ledger:{day_key}:agg")
        rows: dict[tuple[str, str, str], AggregateRow] = {}
        for k, v in raw.items():
            model_key, model, tier, metric = text(k).split("|")
            if metric in METRICS:  # a field written by a newer version is skipped
                key = (model_key, model, tier)
                row = rows.get(key) or rows.setdefault(key, AggregateRow(*key))
                setattr(row, metric, int(v))
        return DayAggregates(day_key, [rows[key] for key in sorted(rows)])

    def calls(self, day: date | str) -> list[dict[str, Any]]:
        """The per-call records of one UTC day, in settlement order."""
        raw = self.client.lrange(f"{self.namespace}:ledger:{day_text(day)}:calls", 0, -1)
        return [json.loads(text(item)) for item in raw]


def _check_name(name: str, value: str) -> None:
    if not isinstance(value, str) or not value or "|" in value or any(c.isspace() for c in value):
        raise ValueError(f"{name} must be a non-empty string without '|' or spaces, got {value!r}")
