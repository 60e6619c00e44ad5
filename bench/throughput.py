"""2 and 6. End-to-end throughput of Haiku-tier workers against the test LLM server.

Two worker subprocesses start once (threads pool, concurrency N, the tier's prefetch);
the second one's consumer is cancelled except in the two-worker rounds, which alternate
with the one-worker rounds. Each round
publishes into the running worker(s) and measures from the first publish to the last
result's `date_done` (written by the worker). Rounds alternate: `llm.run` with the test
server answering after L seconds, and the bare task sleeping L on the same worker.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.bare_tasks import BARE
from bench.env import BenchEnv
from bench.publish import MODEL_KEY, prompt
from bench.worker_proc import Worker

QUEUE = "llm.haiku"


@dataclass
class ThroughputResult:
    concurrency: int
    latency_s: float
    tasks_per_round: int
    llm_per_s: list[float] = field(default_factory=list)
    bare_per_s: list[float] = field(default_factory=list)
    llm_two_per_s: list[float] = field(default_factory=list)
    worker_pids: list[int] = field(default_factory=list)

    @property
    def limit_per_s(self) -> float:
        return self.concurrency / self.latency_s

    @property
    def llm(self) -> float:
        return statistics.median(self.llm_per_s)

    @property
    def bare(self) -> float:
        return statistics.median(self.bare_per_s)

    @property
    def llm_two(self) -> float:
        return statistics.median(self.llm_two_per_s)


def _round(task: Any, n: int, kwargs: dict[str, Any], options: dict[str, Any],
           timeout: float) -> float:
    start = datetime.now(UTC)
    results = [task.apply_async(kwargs=kwargs, **options) for _ in range(n)]
    ends: list[datetime] = []
    for r in results:
        r.get(timeout=timeout, propagate=True)
        done = r.date_done
        if isinstance(done, str):
            done = datetime.fromisoformat(done)
        if done is not None and done.tzinfo is None:
            done = done.replace(tzinfo=UTC)
        ends.append(done or datetime.now(UTC))
    for r in results:
        r.forget()
    return n / (max(ends) - start).total_seconds()


def _consume(app: Any, worker: Worker, on: bool) -> None:
    if on:
        app.control.add_consumer(QUEUE, destination=[worker.name], reply=True, timeout=5)
    else:
        app.control.cancel_consumer(QUEUE, destination=[worker.name], reply=True, timeout=5)
    time.sleep(0.2)  # let the consumer change settle before the next round


def measure(benv: BenchEnv, *, concurrency: int, latency: float, waves: int,
            rounds: int, prefetch: int = 4) -> ThroughputResult:
    from workers.app import app

    benv.server.latency = latency
    n = concurrency * waves
    timeout = 60 + 4 * waves * latency
    res = ThroughputResult(concurrency, latency, n)
    routed, bare = app.tasks["llm.run"], app.tasks[BARE]
    llm_kwargs = {"model_key": MODEL_KEY, "prompt": prompt()}
    bare_kwargs = {**llm_kwargs, "sleep": latency}
    workers = [Worker(benv.env(), [QUEUE], concurrency=concurrency, prefetch=prefetch,
                      name=f"haiku{i}") for i in (1, 2)]
    try:
        for w in workers:
            w.wait_ready()
        res.worker_pids = [w.pid for w in workers]
        # Warm up both workers (each thread's provider client and connection), then the
        # bare path; from here on the second worker only consumes in two-worker rounds.
        _round(routed, 4 * concurrency, llm_kwargs, {}, timeout)
        _round(bare, 2 * concurrency, bare_kwargs, {"queue": QUEUE}, timeout)
        _consume(app, workers[1], on=False)

        def llm_round() -> None:
            res.llm_per_s.append(_round(routed, n, llm_kwargs, {}, timeout))

        def bare_round() -> None:
            res.bare_per_s.append(_round(bare, n, bare_kwargs, {"queue": QUEUE}, timeout))

        for i in range(rounds):
            for step in ((llm_round, bare_round) if i % 2 == 0 else (bare_round, llm_round)):
                step()
            _consume(app, workers[1], on=True)
            res.llm_two_per_s.append(_round(routed, 2 * n, llm_kwargs, {}, timeout))
            _consume(app, workers[1], on=False)
    finally:
        for w in workers:
            w.stop()
        benv.server.latency = 0.0
    return res
