"""9. Attribution's cost: attributed `llm.run` against plain `llm.run`, side by side.

- Ledger: the workers' own reserve + settle (`Accounting`), attributed (agent, run with a
  cap, two tags) and plain, in alternating rounds on one client; and the Redis round trips
  an attributed call makes (counted: the same two EVALSHA as a plain one).
- Worker: one Haiku-tier worker subprocess (threads pool) against the test LLM server
  answering after L seconds; rounds alternate plain `llm.run` and `llm.run` with `agent`,
  `run_id` (one run per round, capped far above it) and `tags`; each round measured from
  the first publish to the last result's `date_done`.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis

from bench.env import BenchEnv
from bench.ledger_cost import _Call, _prepare, _runtime
from bench.publish import MODEL_KEY, prompt
from bench.throughput import QUEUE, _round
from bench.worker_proc import Worker
from routing.attribution import Attribution, RunCap
from tests.support.spend import counting_client
from workers.execution.accounting import Accounting
from workers.execution.runtime import Runtime
from workers.settings import get_settings

TAGS = {"team": "bench", "env": "perf"}


@dataclass
class AttributedResult:
    round_trips_per_call: float
    ledger_plain_per_s: list[float] = field(default_factory=list)
    ledger_attributed_per_s: list[float] = field(default_factory=list)
    llm_plain_per_s: list[float] = field(default_factory=list)
    llm_attributed_per_s: list[float] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(self, name))


def _who(run: str) -> Attribution:
    return Attribution("bench-agent", run, tuple(sorted(TAGS.items())),
                       RunCap(max_micros=10**12, max_calls=10**6))


def _calls(rt: Runtime, c: _Call, n: int, who: Attribution | None) -> None:
    for _ in range(n):
        acc = Accounting(rt, f"bench-{uuid.uuid4().hex[:12]}", c.cfg, who)
        held = acc.reserve(c.cfg, c.state, c.worst)
        acc.settle(held, c.state, c.usage, c.cost)


def _rate(rt: Runtime, c: _Call, n: int, who: Attribution | None) -> float:
    start = time.perf_counter()
    _calls(rt, c, n, who)
    return n / (time.perf_counter() - start)


def measure(benv: BenchEnv, *, per_round: int, rounds: int, concurrency: int,
            latency: float, waves: int) -> AttributedResult:
    from workers.app import app

    settings = get_settings()
    client, conn = counting_client(settings.redis_url)
    try:
        rt = _runtime(client)
        call = _prepare(client, settings.namespace)
        who = _who(f"bench-run-{uuid.uuid4().hex[:8]}")
        _calls(rt, call, 1, who)  # loads the scripts
        conn.round_trips = 0
        _calls(rt, call, 20, who)
        res = AttributedResult(conn.round_trips / 20)
    finally:
        client.close()
    plain = redis.Redis.from_url(settings.redis_url)
    try:
        rt = _runtime(plain)
        for i in range(rounds):
            who = _who(f"bench-run-{uuid.uuid4().hex[:8]}")
            order = (None, who) if i % 2 == 0 else (who, None)
            for w in order:
                rate = _rate(rt, call, per_round, w)
                (res.ledger_plain_per_s if w is None else res.ledger_attributed_per_s).append(
                    rate)
    finally:
        plain.close()

    benv.server.latency = latency
    n = concurrency * waves
    timeout = 60 + 4 * waves * latency
    task = app.tasks["llm.run"]
    base: dict[str, Any] = {"model_key": MODEL_KEY, "prompt": prompt()}
    worker = Worker(benv.env(), [QUEUE], concurrency=concurrency, prefetch=4, name="attr")
    try:
        worker.wait_ready()
        _round(task, 2 * concurrency, base, {}, timeout)  # warm up
        for i in range(rounds):
            attributed = {**base, "agent": "bench-agent", "tags": TAGS,
                          "run_id": f"bench-run-{uuid.uuid4().hex[:8]}",
                          "run_max_calls": 10 * n}
            order = (base, attributed) if i % 2 == 0 else (attributed, base)
            for kwargs in order:
                rate = _round(task, n, kwargs, {}, timeout)
                (res.llm_attributed_per_s if "agent" in kwargs else res.llm_plain_per_s
                 ).append(rate)
    finally:
        worker.stop()
        benv.server.latency = 0.0
    return res
