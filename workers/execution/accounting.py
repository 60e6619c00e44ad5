"""The task layer's side of budgets and the ledger: reserve before a call, settle after.

Two Redis round trips per call in all (one EVALSHA each, `routing.spend.budget` and
`routing.spend.ledger`); a key with no budget reserves without Redis at all.

A settle that cannot reach Redis (a restart, a failover, a network cut) is tried again
with capped exponential backoff for `LLM_ROUTER_SETTLE_RETRY_SECONDS`, the provider's
answer kept in memory meanwhile: the provider was paid, so the task waits for Redis rather
than failing. Retrying is safe: the settle is one Lua script (applied whole or not at
all), keyed by the call id, and a call id settled already changes nothing. So a first
attempt that ran but whose reply was lost is recorded once. A healthy Redis pays nothing
for this (the first attempt is the only one).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

import redis

from routing.attribution import Attribution
from routing.config.models import RoutingConfig
from routing.errors import BudgetExceededError
from routing.prices.pricing import Usage
from routing.spend.budget import Reservation
from routing.spend.call_record import CallRecord, Outcome
from routing.spend.ledger import Settlement
from workers.execution.route_state import RouteState
from workers.execution.runtime import Runtime

log = logging.getLogger(__name__)

#: Errors of a Redis that did not answer (redis-py's BusyLoadingError, a Redis loading
#: its data after a restart, is a ConnectionError); anything else is not retried.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)
#: Seconds before the first retry of a settle, doubled after each failure up to the cap.
FIRST_DELAY = 0.1
MAX_DELAY = 5.0


class Accounting:
    """Budgets and ledger for the calls of one task execution."""

    def __init__(self, rt: Runtime, task_id: str, config: RoutingConfig,
                 attribution: Attribution | None = None) -> None:
        self.rt = rt
        self.task_id = task_id
        self.attribution = attribution or Attribution()
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
                                       model=state.model, tier=state.tier,
                                       attribution=self.attribution)

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
        self._settle(
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
                attribution=self.attribution,
                hop="batch" if batch_id is not None else hop_of(s),
            ),
        )

    def _settle(self, record: CallRecord) -> Settlement:
        """`Ledger.settle`, tried again while Redis does not answer, for at most the
        settings' bound (then the last error is raised)."""
        try:
            return self.rt.ledger.settle(record, window_seconds=self.window_seconds)
        except UNREACHABLE as exc:
            last = exc
        bound = self.rt.settings.settle_retry_seconds
        deadline = time.monotonic() + bound
        log.warning("ledger: call %s cannot be settled yet (%r): its answer is kept and "
                    "the settle retried for up to %g s", record.call_id, last, bound)
        delay, tries = FIRST_DELAY, 1
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("ledger: call %s still unsettled after %d tries in %g s: the task "
                          "fails and the call is charged at its reserved bound",
                          record.call_id, tries, bound)
                raise last
            time.sleep(min(delay, left))
            delay = min(2 * delay, MAX_DELAY)
            tries += 1
            try:
                done = self.rt.ledger.settle(record, window_seconds=self.window_seconds)
            except UNREACHABLE as exc:
                last = exc
                continue
            log.info("ledger: call %s settled at try %d%s", record.call_id, tries,
                     " (recorded already: counted once)" if done.duplicate else "")
            return done

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


def hop_of(state: RouteState) -> str:
    """How the call's model was reached: the kind of the task's latest hop ('' for none)."""
    if state.hops:
        return str(state.hops[-1].get("kind", ""))
    if state.downgraded_from is not None:
        return "downgrade"
    return "retry" if state.calls else ""
