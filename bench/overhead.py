"""The path other apps take: throughput and worker CPU per task, against plain Celery.

One Haiku-tier worker of the product (threads pool at the tier's shipped concurrency, its
prefetch, task events on, consuming `llm.haiku` and Celery's default queue as the
dispatching tier does) and one worker of a plain Celery app (`bench.plain_app`: same pool,
concurrency, prefetch and events, a task that sleeps like the provider answers) run side
by side; the test LLM server answers after L seconds. Rounds alternate between:
- foreign: a plain `Celery(broker=...)` app that knows only the broker URL sends
  `send_task("llm.run", kwargs={"model_key": ..., "prompt": ...})` (no queue, no header);
- project: the project's own app sends `llm.run` by name (routed at send time);
- plain: the plain app's producer sends its bare task to its worker;
- sdk: the same, with the task that calls the test LLM server through the Anthropic SDK
  (a hand-rolled Celery task doing the same call: what llm-router costs on top of it);
- tools / sdk_tools: an agent turn (a conversation with two tools, the model calls one)
  sent by the plain app as `llm.run` with `messages` and `tools`, and the same SDK call
  with the same tools in the hand-rolled task.
Per round: tasks/s from the first publish to the last result's `date_done`, and the
worker's CPU per task (user + system of the worker process over the round, minus what it
burns idle over the same time).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from bench.env import BenchEnv
from bench.plain_app import PLAIN_TASK, SDK_TASK
from bench.publish import MODEL_KEY, prompt
from bench.worker_proc import Worker

MODES = ("foreign", "project", "plain", "sdk", "tools", "sdk_tools")
# The agent turn of the `tools` modes: the test server answers it with a tool call.
TOOLS = [{"name": name, "description": f"{name} of a place",
          "input_schema": {"type": "object", "properties": {arg: {"type": "string"}},
                           "required": [arg]}}
         for name, arg in (("get_weather", "city"), ("get_time", "zone"))]
TURN = [{"role": "user", "content": "Use get_weather for Paris, then get_time for Paris."}]


@dataclass
class OverheadResult:
    concurrency: int
    latency_s: float
    tasks_per_round: int
    per_s: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    cpu_ms: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})

    def rate(self, mode: str) -> float:
        return statistics.median(self.per_s[mode])

    def cpu(self, mode: str) -> float:
        return statistics.median(self.cpu_ms[mode])


def _done_at(result: Any) -> datetime:
    done = result.date_done
    if isinstance(done, str):
        done = datetime.fromisoformat(done)
    if done is not None and done.tzinfo is None:
        done = done.replace(tzinfo=UTC)
    return done or datetime.now(UTC)


def _plain_producer(url: str, prefix: str) -> Celery:
    """A Celery app that knows only the broker URL (and the key prefix the bench uses)."""
    producer = Celery("producer", broker=url, backend=url, set_as_current=False)
    producer.conf.broker_transport_options = {"global_keyprefix": prefix}
    producer.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    return producer


def _idle_rate(worker: Worker, seconds: float = 1.0) -> float:
    """CPU seconds per second the worker burns with nothing to do (heartbeats, polling)."""
    before, start = worker.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (worker.cpu_seconds() - before) / (time.monotonic() - start)


def _round(send: Any, n: int, worker: Worker, idle: float, timeout: float
           ) -> tuple[float, float]:
    cpu0, t0 = worker.cpu_seconds(), time.monotonic()
    start = datetime.now(UTC)
    results = [send() for _ in range(n)]
    for r in results:
        r.get(timeout=timeout)
    ends = [_done_at(r) for r in results]
    cpu = worker.cpu_seconds() - cpu0 - idle * (time.monotonic() - t0)
    for r in results:
        r.forget()
    return n / (max(ends) - start).total_seconds(), max(0.0, cpu) * 1000 / n


def measure(benv: BenchEnv, *, concurrency: int, prefetch: int, latency: float, waves: int,
            rounds: int) -> OverheadResult:
    from workers.app import app

    env = benv.env()
    plain_prefix = f"{benv.namespace}:plain:"
    plain_env = {**env, "BENCH_PLAIN_URL": benv.redis_url, "BENCH_PLAIN_PREFIX": plain_prefix}

    benv.server.latency = latency
    n = concurrency * waves
    timeout = 60 + 4 * waves * latency
    res = OverheadResult(concurrency, latency, n)
    ours = Worker(env, ["llm.haiku", "celery"], concurrency=concurrency, prefetch=prefetch,
                  name="haiku", include="")
    plain = Worker(plain_env, ["celery"], concurrency=concurrency, prefetch=prefetch,
                   name="plain", app="bench.plain_app", include="")
    foreign = _plain_producer(benv.redis_url, benv.broker_prefix)
    plain_app = _plain_producer(benv.redis_url, plain_prefix)
    kwargs = {"model_key": MODEL_KEY, "prompt": prompt()}
    turn = {"model_key": MODEL_KEY, "messages": TURN, "tools": TOOLS}
    senders = {
        "foreign": (ours, lambda: foreign.send_task("llm.run", kwargs=kwargs)),
        "project": (ours, lambda: app.send_task("llm.run", kwargs=kwargs)),
        "plain": (plain, lambda: plain_app.send_task(PLAIN_TASK,
                                                     kwargs={**kwargs, "sleep": latency})),
        "sdk": (plain, lambda: plain_app.send_task(SDK_TASK, kwargs=kwargs)),
        "tools": (ours, lambda: foreign.send_task("llm.run", kwargs=turn)),
        "sdk_tools": (plain, lambda: plain_app.send_task(SDK_TASK, kwargs=turn)),
    }
    try:
        ours.wait_ready()
        plain.wait_ready()
        for mode in MODES:  # warm up every path (connections, clients, scripts)
            worker, send = senders[mode]
            _round(send, 2 * concurrency, worker, 0.0, timeout)
        idle = {id(w): _idle_rate(w) for w in (ours, plain)}
        for i in range(rounds):
            order = MODES if i % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                worker, send = senders[mode]
                rate, cpu = _round(send, n, worker, idle[id(worker)], timeout)
                res.per_s[mode].append(rate)
                res.cpu_ms[mode].append(cpu)
    finally:
        ours.stop()
        plain.stop()
        foreign.close()
        plain_app.close()
        benv.server.latency = 0.0
    return res


def figures(res: OverheadResult) -> dict[str, Any]:
    """Section 7's figures (the medians over rounds, and their ratios)."""
    def ratio(a: float, b: float, digits: int) -> float:
        return round(a / max(b, 1e-6), digits)

    return {
        "overhead_concurrency": res.concurrency,
        "overhead_latency_s": res.latency_s,
        "overhead_tasks_per_round": res.tasks_per_round,
        **{f"overhead_{m}_per_s": round(res.rate(m), 2) for m in MODES},
        **{f"overhead_{m}_cpu_ms": round(res.cpu(m), 3) for m in MODES},
        "overhead_foreign_ratio": ratio(res.rate("foreign"), res.rate("plain"), 4),
        "overhead_project_ratio": ratio(res.rate("project"), res.rate("plain"), 4),
        "overhead_cpu_ratio": ratio(res.cpu("foreign"), res.cpu("plain"), 3),
        "overhead_sdk_cpu_ratio": ratio(res.cpu("foreign"), res.cpu("sdk"), 3),
        "overhead_tool_ratio": ratio(res.rate("tools"), res.rate("sdk_tools"), 4),
        "overhead_tool_cpu_ratio": ratio(res.cpu("tools"), res.cpu("sdk_tools"), 3),
    }


def main() -> None:
    """`python -m bench.overhead [ROUNDS [WAVES]]`: this section alone, at the quick run's
    Haiku profile (32 threads, prefetch 4, L = 0.5 s; default 3 rounds of 8 waves); the
    whole bench, `python -m bench`, runs it too."""
    import json
    import os
    import sys

    from bench.env import bench_env, bench_redis_url

    given = [int(a) for a in sys.argv[1:3]]
    rounds, waves = [*given, *(3, 8)[len(given):]]
    redis_url, note = bench_redis_url(None, os.environ)
    if note:
        print(note, file=sys.stderr)
    with bench_env(redis_url) as benv:
        res = measure(benv, concurrency=32, prefetch=4, latency=0.5, waves=waves,
                      rounds=rounds)
    print(json.dumps({**figures(res), "rounds": rounds,
                      "samples": {"per_s": res.per_s, "cpu_ms": res.cpu_ms}}, indent=1))


if __name__ == "__main__":
    main()
