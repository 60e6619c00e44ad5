"""5. Ledger and budget cost: Redis round trips per call, and calls recorded per second.

Drives the workers' own path, `workers.execution.accounting.Accounting.reserve` then `.settle`,
for a Haiku-tier key under the shipped budgets (so the reservation does hit Redis):
once through a round-trip counting connection, then in a loop on a normal client.
A loop of PINGs on the same client, interleaved, is the reference (1 round trip each).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bench.publish import MODEL_KEY
from routing.config.models import RoutingConfig
from routing.config.store import ConfigStore
from routing.prices.pricing import Usage, cost_micros, worst_case_micros
from routing.router import Router
from routing.spend.budget import BudgetBook
from routing.spend.ledger import Ledger
from tests.support.spend import counting_client
from workers.execution.accounting import Accounting
from workers.execution.route_state import RouteState
from workers.execution.runtime import Runtime
from workers.settings import get_settings


@dataclass
class LedgerResult:
    round_trips_per_call: float
    commands_per_call: float
    calls_per_s: float
    pings_per_s: float
    counted_calls: int

    @property
    def ratio_to_two_pings(self) -> float:
        """Calls/s against the rate of two bare round trips (the floor of 2 per call)."""
        return self.calls_per_s / (self.pings_per_s / 2)


def _runtime(client: redis.Redis) -> Runtime:
    settings = get_settings()
    rt = Runtime(settings)
    # The worker's runtime builds these from its own client; use the given one.
    rt.__dict__["redis"] = client
    rt.__dict__["budgets"] = BudgetBook(client, settings.namespace)
    rt.__dict__["ledger"] = Ledger(client, settings.namespace, keep_days=1)
    return rt


@dataclass(frozen=True)
class _Call:
    cfg: RoutingConfig
    state: RouteState
    worst: int
    usage: Usage
    cost: int


def _prepare(client: redis.Redis, namespace: str) -> _Call:
    cfg = ConfigStore(client, namespace).read()
    state = RouteState.initial(Router(cfg).decide(MODEL_KEY, 120))
    price = cfg.price_of(state.model)
    usage = Usage(input_tokens=120, output_tokens=40)
    return _Call(cfg, state, worst_case_micros(120, 1024, price), usage, cost_micros(usage, price))


def _calls(rt: Runtime, c: _Call, n: int) -> None:
    for _ in range(n):
        acc = Accounting(rt, f"bench-{uuid.uuid4().hex[:12]}", c.cfg)
        reservation = acc.reserve(c.cfg, c.state, c.worst)
        assert reservation.held, "no budget applies: the bench would not touch Redis"
        acc.settle(reservation, c.state, c.usage, c.cost)


def _pings(client: redis.Redis, n: int) -> None:
    for _ in range(n):
        client.ping()


def _rate(fn: Callable[[int], None], n: int) -> float:
    start = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - start)


def measure(counted: int, per_round: int, rounds: int) -> LedgerResult:
    settings = get_settings()
    client, conn = counting_client(settings.redis_url)
    try:
        rt = _runtime(client)
        call = _prepare(client, settings.namespace)
        _calls(rt, call, 1)  # loads the scripts (a first EVALSHA may miss)
        conn.round_trips, conn.sent = 0, []
        _calls(rt, call, counted)
        trips, commands = conn.round_trips, len(conn.sent)
    finally:
        client.close()
    plain = redis.Redis.from_url(settings.redis_url)
    try:
        rt = _runtime(plain)
        call_rates: list[float] = []
        ping_rates: list[float] = []
        for _ in range(rounds):
            call_rates.append(_rate(lambda k: _calls(rt, call, k), per_round))
            ping_rates.append(_rate(lambda k: _pings(plain, k), 2 * per_round))
    finally:
        plain.close()
    return LedgerResult(trips / counted, commands / counted, statistics.median(call_rates),
                        statistics.median(ping_rates), counted)
