"""The task layer's side of budgets and the ledger: reserve before a call, settle after.

Two Redis round trips per call in all (one EVALSHA each, `routing.spend.budget` and
`routing.spend.ledger`); a key with no budget reserves without Redis at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from routing.config.models import RoutingConfig
from routing.errors import BudgetExceededError
from routing.prices.pricing import Usage
from routing.spend.budget import Reservation
from routing.spend.ledger import CallRecord, Outcome
from workers.execution.route_state import RouteState
from workers.execution.runtime import Runtime


class Accounting:
    """Budgets and ledger for the calls of one task execution."""

    def __init__(self, rt: Runtime, task_id: str, config: RoutingConfig) -> None:
        self.rt = rt
        self.task_id = task_id
        self.window_seconds = config.budgets.window_seconds
        # Unique per execution: a message redelivered after a crash makes a new, real
        # call, which must be counted even if the lost execution had settled its own.
        self._run = uuid.uuid4().hex[:8]

    def call_id(self, state: RouteState) -> str:
        return f"{self.task_id}:{state.calls}:{self._run}"

    def reserve(self, cfg: RoutingConfig, state: RouteState, worst_micros: int, *,
                call_id: str | None = None, ttl: float | None = None) -> Reservation:
        """Hold the call's worst case (under this execution's call id, or `call_id`; `ttl`:
        how long it may stay unsettled, the book's default if None)."""
        return self.rt.budgets.reserve(cfg, state.model_key, call_id or self.call_id(state),
                                       worst_micros, ttl=ttl, owner=self.task_id,
                                       model=state.model, tier=state.tier)

    def settle(
        self, reservation: Reservation, s: RouteState, usage: Usage, cost: int, *,
        error: str | None = None, invalid: bool = False, latency_ms: float | None = None,
        e2e_ms: float | None = None, batch_id: str | None = None,
        direct_micros: int | None = None,
    ) -> None:
        """Record one call made in state `s` (before the call): `error` names the provider
        error's class when it failed, `invalid` says its output failed validation,
        `e2e_ms` is set on the task's last call; a call made in a provider batch names it
        (`batch_id`) and what it would have cost directly (`direct_micros`)."""
        outcome = Outcome.ok if error is None else Outcome.error
        self.rt.ledger.settle(
            CallRecord(
                task_id=self.task_id,
                call_id=reservation.call_id,
                model_key=s.model_key,
                model=s.model,
                tier=s.tier,
                usage=usage,
                cost_micros=cost,
                attempt=s.calls + 1,
                config_version=s.config_version,
                outcome=outcome,
                fallback=bool(s.fallback_from),
                escalation=bool(s.escalated_from),
                downgrade=s.downgraded_from is not None,
                deferred=s.deferrals > 0,
                error=error,
                invalid=invalid,
                latency_ms=latency_ms,
                e2e_ms=e2e_ms,
                batch_id=batch_id,
                direct_micros=direct_micros,
            ),
            window_seconds=self.window_seconds,
        )

    def refused(self, state: RouteState, exc: BudgetExceededError, *, deferred: bool) -> None:
        record = self.rt.ledger.record_deferral if deferred else self.rt.ledger.record_rejection
        record(
            exc,
            task_id=self.task_id,
            call_id=self.call_id(state),
            model_key=state.model_key,
            model=state.model,
            tier=state.tier,
            config_version=state.config_version,
        )

    @staticmethod
    def resets_at_ts(exc: BudgetExceededError) -> float:
        return datetime.fromisoformat(exc.resets_at.replace("Z", "+00:00")).timestamp()
