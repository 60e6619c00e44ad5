"""One provider call as the task layer records it in the ledger (`Ledger.settle`): its
usage, cost, outcome, flags and attribution."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from routing.attribution import Attribution
from routing.prices.pricing import Usage
from routing.spend import latency
from routing.spend.aggregates import check_row_name

FLAGS = ("fallback", "escalation", "downgrade", "deferred", "judge", "batch")


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
    invalid: bool = False  # the output failed validation (the call itself succeeded)
    latency_ms: float | None = None  # provider time of the call
    e2e_ms: float | None = None  # set on a task's last call: from send (or arrival) to now
    trial: bool = False  # a shadow-trial call: its own aggregates, never production spend
    judge: bool = False  # a trial's judge call
    budgets: tuple[str, ...] = ()  # charged without a reservation (default: production's)
    # A call made through a provider batch (priced at the batch rate): the provider's batch
    # id, and what the same usage costs at direct prices (the saving is the difference).
    batch_id: str | None = None
    direct_micros: int | None = None
    # Counters settled with the call, in the same step (a trial's scores: a sample is
    # paid and scored at once, or neither)
    scores: tuple[tuple[str, int], ...] = ()
    # Who asked (agent, run, tags): counted per agent, tag and run in the same step
    attribution: Attribution = field(default_factory=Attribution)
    hop: str = ""  # how the call's model was reached: '', 'fallback', 'escalate', ...

    @property
    def batch(self) -> bool:
        return self.batch_id is not None

    def __post_init__(self) -> None:
        for name in ("task_id", "call_id", "model_key", "model", "tier"):
            check_row_name(name, getattr(self, name))
        if not isinstance(self.cost_micros, int) or self.cost_micros < 0:
            raise ValueError(
                f"cost_micros must be a non-negative integer (micro-dollars), got "
                f"{self.cost_micros!r}; price the usage with routing.prices.pricing.cost_micros"
            )
        if not isinstance(self.usage, Usage):
            raise ValueError(f"usage must be a routing.prices.pricing.Usage, got {self.usage!r}")
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
        out = {
            "task_id": self.task_id, "call_id": self.call_id, "model_key": self.model_key,
            "model": self.model, "tier": self.tier, **self.usage.as_dict(),
            "cost_micros": self.cost_micros, "attempt": self.attempt,
            "config_version": self.config_version, "outcome": str(self.outcome),
            **{f: getattr(self, f) for f in FLAGS}, "error": self.error,
            "invalid": self.invalid, "trial": self.trial,
        }
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 1)
        if self.e2e_ms is not None:
            out["e2e_ms"] = round(self.e2e_ms, 1)
        out.update(self.attribution.as_dict())
        if self.hop:
            out["hop"] = self.hop
        if self.batch_id is not None:
            out["batch_id"] = self.batch_id
            out["direct_micros"] = self.direct_micros or 0
        return out

    def increments(self) -> str:
        """The row's counters this call adds besides calls, tokens, cost and flags."""
        parts: dict[str, int] = {}
        if self.outcome != Outcome.ok:
            parts[f"err:{self.error or 'error'}"] = 1
        elif self.invalid:
            parts["invalid"] = 1
        else:
            parts["successes"] = 1
        if self.latency_ms is not None:
            parts[f"lat:{latency.bucket(self.latency_ms)}"] = 1
            parts["latency_ms"] = round(self.latency_ms)
        if self.e2e_ms is not None:
            parts[f"e2e:{latency.bucket(self.e2e_ms)}"] = 1
            parts["e2e_ms"] = round(self.e2e_ms)
            parts["tasks"] = 1
        saved = (self.direct_micros or 0) - self.cost_micros
        if self.batch and saved > 0:
            parts["batch_saved_micros"] = saved
        for name, value in self.scores:
            if value > 0:
                parts[name] = parts.get(name, 0) + value
        return ",".join(f"{k}={v}" for k, v in parts.items())
