"""The cost ledger: every provider call, settled and recorded in one EVALSHA.

`Ledger.settle(record)` releases the call's budget reservation (if any), adds its actual
cost to the spent counters of its budgets, and records it: day aggregates per model key x
model x tier (`routing.spend.aggregates`: calls, successes, invalid outputs, errors by class,
tokens, micro-dollars, latency histograms, calls/cost flagged as fallback, escalation,
downgrade or run-after-deferral) and a per-call JSON record kept `keep_days` days. A
shadow-trial call (`trial=True`) is recorded apart (its own aggregates and budget), so it
is never production spend. The caller prices the call with the prices in force at call
time (`routing.prices.pricing.cost_micros`); the ledger stores micro-dollars and never re-prices.

Days are UTC days of the Redis server's clock at settlement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import redis

from routing.days import day_text
from routing.decode import text
from routing.errors import BudgetExceededError
from routing.keys import (
    candidate_days,
    claim_key,
    day_key,
    keyspace,
    settled_key,
    spend_keys,
)
from routing.spend.aggregates import AggregateRow, TrialRow, check_row_name, parse_rows
from routing.spend.budget_names import production_budgets
from routing.spend.lua import COUNT, REFUSAL, SETTLE

if TYPE_CHECKING:  # the writers build it (workers); the readers never load it
    from routing.spend.call_record import CallRecord

DAY = 86400
PRODUCTION, TRIAL = "agg", "trial"


@dataclass(frozen=True, slots=True)
class Settlement:
    day: str
    released_micros: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DayAggregates:
    day: str
    rows: list[AggregateRow] = field(default_factory=list)


class Ledger:
    """Settlement and the cost ledger of one namespace (any redis-py compatible client)."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        *,
        keep_days: int = 14,
        aggregate_keep_days: int | None = None,
        run_keep_days: int = 30,
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
        self.prefix = keyspace(namespace)
        self.keep_days = keep_days
        self.aggregate_keep_days = aggregate_keep_days
        self.run_keep_days = run_keep_days
        self._settle = client.register_script(SETTLE)
        self._refusal = client.register_script(REFUSAL)
        self._count = client.register_script(COUNT)

    def __repr__(self) -> str:
        return f"Ledger(namespace={self.namespace!r}, keep_days={self.keep_days})"

    def settle(self, record: CallRecord, *, window_seconds: int = DAY,
               on_duplicate: dict[str, int] | None = None) -> Settlement:
        """Release the call's reservation, charge its cost, record it: one EVALSHA.

        Without a reservation (budgets off, or it expired) the cost is charged to the
        current window of `window_seconds` (pass `config.budgets.window_seconds`).
        Settling a call id again changes nothing but `on_duplicate` (counters added to the
        record's row in the same step, e.g. a trial's `replayed`) and returns
        `duplicate=True`.
        """
        u = record.usage
        who = record.attribution
        days = candidate_days()
        args: list[str | int] = [
            " ".join(days), window_seconds, record.call_id, record.model_key, record.model,
            record.tier, record.cost_micros, u.input_tokens, u.output_tokens,
            u.cache_read_tokens, u.cache_write_tokens, ",".join(record.flags),
            0 if record.outcome == "ok" else 1, self.keep_days * DAY,
            self.aggregate_keep_days * DAY,
            json.dumps(record.as_dict(), separators=(",", ":")),
            " ".join(record.budgets or production_budgets(record.model_key, who.agent)),
            TRIAL if record.trial else PRODUCTION,
            record.increments(),
            "" if record.trial else record.task_id,
            record.call_id.rsplit(":", 1)[-1],
            ",".join(f"{k}={int(v)}" for k, v in (on_duplicate or {}).items() if int(v) > 0),
            who.agent, who.run_id, who.tags_text, self.run_keep_days * DAY, record.hop,
            record.task_id,
        ]
        keys = spend_keys(self.prefix, days, window_seconds=window_seconds,
                          call_id=record.call_id, run_id=who.run_id)
        ok, day, released = self._settle(keys=keys, args=args)
        return Settlement(text(day), int(released), duplicate=not int(ok))

    def record_deferral(
        self, error: BudgetExceededError, *, task_id: str, call_id: str, model_key: str,
        model: str, tier: str, config_version: int = 0,
    ) -> str:
        """Count a task deferred for budget and list it with the day's calls (one EVALSHA).

        Returns the UTC day it was recorded under.
        """
        return self._refused("deferrals", "deferred", error, task_id, call_id,
                             model_key, model, tier, config_version)

    def record_rejection(
        self, error: BudgetExceededError, *, task_id: str, call_id: str, model_key: str,
        model: str, tier: str, config_version: int = 0,
    ) -> str:
        """Count a task rejected for budget (policy `reject`); one EVALSHA."""
        return self._refused("rejections", "rejected", error, task_id, call_id,
                             model_key, model, tier, config_version)

    def _refused(
        self, kind: str, outcome: str, error: BudgetExceededError, task_id: str,
        call_id: str, model_key: str, model: str, tier: str, config_version: int,
    ) -> str:
        for name, value in (("task_id", task_id), ("call_id", call_id),
                            ("model_key", model_key), ("model", model), ("tier", tier)):
            check_row_name(name, value)
        rec = {
            "task_id": task_id, "call_id": call_id, "model_key": model_key, "model": model,
            "tier": tier, "cost_micros": 0, "config_version": config_version,
            "outcome": outcome, "budget": error.budget,
            "needed_micros": error.needed_micros, "resets_at": error.resets_at,
        }
        days = candidate_days()
        args: list[str | int] = [
            " ".join(days), model_key, model, tier, kind, error.needed_micros,
            self.keep_days * DAY, self.aggregate_keep_days * DAY,
            json.dumps(rec, separators=(",", ":")),
        ]
        return text(self._refusal(keys=spend_keys(self.prefix, days), args=args))

    def count(self, row: tuple[str, str, str], increments: dict[str, int], *,
              trial: bool = False) -> str:
        """Add `increments` to today's row `(model key, model, tier)` (a hop away from a
        model; a trial's scores) with no call recorded: one EVALSHA. Returns the day."""
        for name, value in zip(("model_key", "model", "tier"), row, strict=True):
            check_row_name(name, value)
        parts = ",".join(f"{k}={int(v)}" for k, v in increments.items() if int(v) > 0)
        days = candidate_days()
        args: list[str | int] = [" ".join(days), TRIAL if trial else PRODUCTION,
                                 "|".join(row), self.aggregate_keep_days * DAY, parts]
        return text(self._count(keys=spend_keys(self.prefix, days), args=args))

    def claim(self, call_id: str, holder: str, ttl_seconds: int) -> bool:
        """Claim the right to make call `call_id` for `ttl_seconds`: True for the first
        claimant (or the same `holder` again), False while another holds it or once the
        call is settled. One SET NX: of two deliveries at once, exactly one calls."""
        key = claim_key(self.prefix, call_id)
        if self.client.set(key, holder, nx=True, ex=max(1, ttl_seconds)):
            return not self.settled(call_id)
        held = self.client.get(key)
        return text(held) == holder if held is not None else False

    # -- reads ---------------------------------------------------------------------------
    def settled(self, call_id: str) -> bool:
        """Whether `call_id` was settled already (its settle ran): one EXISTS."""
        return bool(self.client.exists(settled_key(self.prefix, call_id)))

    def day_aggregates(self, day: date | str) -> DayAggregates:
        """The production aggregates of one UTC day, rows sorted by key, model, tier."""
        day = day_text(day)
        raw = self.client.hgetall(day_key(self.prefix, day, PRODUCTION))
        return DayAggregates(day, parse_rows(raw, AggregateRow))

    def trial_aggregates(self, day: date | str) -> list[TrialRow]:
        """The shadow-trial rows of one UTC day (model = the candidate), sorted."""
        raw = self.client.hgetall(day_key(self.prefix, day_text(day), TRIAL))
        return parse_rows(raw, TrialRow)

    def trial_spans(self, days: list[str]) -> list[TrialRow]:
        """Every trial row of `days` (one pipelined round trip of small hashes)."""
        with self.client.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(day_key(self.prefix, day_text(day), TRIAL))
            replies = pipe.execute()
        return [row for raw in replies for row in parse_rows(raw, TrialRow)]

    def spans(self, days: list[str]) -> tuple[list[AggregateRow], list[TrialRow]]:
        """Every production and trial row of `days` (one pipelined round trip)."""
        prod: list[AggregateRow] = []
        trial: list[TrialRow] = []
        for _, day_prod, day_trial in self.by_day(days):
            prod += day_prod
            trial += day_trial
        return prod, trial

    def by_day(self, days: list[str]) -> list[tuple[str, list[AggregateRow], list[TrialRow]]]:
        """Per day of `days`: its production and trial rows (one pipelined round trip)."""
        with self.client.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(day_key(self.prefix, day_text(day), PRODUCTION))
                pipe.hgetall(day_key(self.prefix, day_text(day), TRIAL))
            replies = pipe.execute()
        return [(day, parse_rows(replies[2 * i], AggregateRow),
                 parse_rows(replies[2 * i + 1], TrialRow)) for i, day in enumerate(days)]

    def calls(self, day: date | str, *, trial: bool = False) -> list[dict[str, Any]]:
        """The per-call records of one UTC day (production, or shadow trials), in
        settlement order."""
        name = "trial_calls" if trial else "calls"
        raw = self.client.lrange(day_key(self.prefix, day_text(day), name), 0, -1)
        return [json.loads(text(item)) for item in raw]
