"""9. Typed tasks with and without native structured output, side by side in one run.

One worker subprocess (every tier's queue, threads) on the simulated provider, whose
prompt-convention replies lose the JSON format at LLM_ROUTER_SIMULATED_FORMAT_ERROR_RATE
(native structured output never does). Rounds alternate two routing configs in the same
namespace: `native`, the shipped one (every model but Kimi supports structured_output),
and `prompt`, the same with structured_output removed from every model. Each round sends
the same typed tasks (classification, monitoring, lookup, code review); their results say
how they were answered (`structured_output`), how many calls they made and whether they
escalated. Reported per variant: the share of calls whose output was invalid, the share
of tasks that escalated, and the cost per task; the ratios compare them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from bench.env import BenchEnv
from bench.worker_proc import Worker

VARIANTS = ("native", "prompt")
QUEUES = ["llm.haiku", "llm.sonnet", "llm.opus", "llm.kimi"]
FORMAT_ERROR_RATE = 0.1


@dataclass
class Tally:
    tasks: int = 0
    calls: int = 0
    invalid: int = 0  # calls whose output was invalid (escalated from, or failed on)
    escalated: int = 0  # tasks with at least one escalation
    failed: int = 0  # tasks that failed with no escalation left
    cost_micros: int = 0  # of the tasks that succeeded
    mechanisms: set[str] = field(default_factory=set)

    @property
    def invalid_rate(self) -> float:
        return self.invalid / max(self.calls, 1)

    @property
    def escalation_rate(self) -> float:
        return self.escalated / max(self.tasks, 1)

    @property
    def cost_per_task(self) -> float:
        return self.cost_micros / max(self.tasks - self.failed, 1)


@dataclass
class StructuredResult:
    format_error_rate: float
    tasks_per_round: int
    rounds: int
    tallies: dict[str, Tally]

    def figures(self) -> dict[str, Any]:
        native, prompt = self.tallies["native"], self.tallies["prompt"]
        out: dict[str, Any] = {"structured_format_error_rate": self.format_error_rate,
                               "structured_tasks": native.tasks}
        for name, t in self.tallies.items():
            out[f"structured_{name}_invalid_rate"] = round(t.invalid_rate, 4)
            out[f"structured_{name}_escalation_rate"] = round(t.escalation_rate, 4)
            out[f"structured_{name}_failed"] = t.failed
            out[f"structured_{name}_cost_micros_per_task"] = round(t.cost_per_task, 1)
        out["structured_cost_ratio"] = round(
            native.cost_per_task / max(prompt.cost_per_task, 1e-9), 4)
        out["structured_escalation_ratio"] = round(
            native.escalation_rate / max(prompt.escalation_rate, 1e-9), 4)
        return out


def _inputs(n: int) -> list[tuple[str, dict[str, Any]]]:
    kinds: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        match i % 4:
            case 0:
                kinds.append(("tasks.classification", {
                    "text": f"ticket {i}: the export button does nothing",
                    "labels": ["billing", "bug", "feature_request", "question"]}))
            case 1:
                kinds.append(("tasks.monitoring", {
                    "source": "the llm.haiku queue",
                    "observations": [f"depth {i}", f"errors last hour: {i % 7}"]}))
            case 2:
                kinds.append(("tasks.lookup", {"question": f"what is item {i}?",
                                               "context": f"item {i} is a widget"}))
            case _:
                diff = f"--- a/f{i}.py\n+++ b/f{i}.py\n@@ -1 +1 @@\n-x = {i}\n+x = {i + 1}\n"
                kinds.append(("tasks.code_review", {"diff": diff}))
    return kinds


def _documents() -> dict[str, dict[str, Any]]:
    from routing.config.defaults import default_document

    native = default_document()
    prompt = copy.deepcopy(native)
    for model in prompt["models"].values():
        model["supports"] = [c for c in model.get("supports", []) if c != "structured_output"]
    return {"native": native, "prompt": prompt}


def _switch(app: Any, store: Any, document: dict[str, Any], variant: str) -> None:
    """Write the variant's config and wait until the worker answers with it (a probe task
    whose result says how it was answered)."""
    store.write(document, author="bench", summary=f"structured bench: {variant}")
    probe = {"question": "is the config in?", "context": "yes"}
    for _ in range(200):
        out = app.tasks["tasks.lookup"].delay(**probe).get(timeout=60)
        if out.get("structured_output") == variant:
            return
    raise RuntimeError(f"the worker never took the {variant} config")


def _chain_calls(document: dict[str, Any], key: str, max_escalations: int) -> int:
    """The calls a typed task of `key` makes when every output is invalid: one per key of
    its escalation chain, at most `max_escalations` + 1."""
    keys, chain = document["model_keys"], [key]
    while (nxt := keys[chain[-1]].get("escalate_to")) and nxt not in chain:
        chain.append(nxt)
    return min(len(chain), max_escalations + 1)


def _round(app: Any, inputs: list[tuple[str, dict[str, Any]]], tally: Tally,
           document: dict[str, Any]) -> None:
    from workers.settings import get_settings

    most = get_settings().max_escalations
    pending = [(name, app.tasks[name].delay(**kwargs)) for name, kwargs in inputs]
    for name, result in pending:
        tally.tasks += 1
        try:
            out = result.get(timeout=120)
        except Exception as exc:
            if type(exc).__name__ != "OutputInvalidError":
                raise
            tally.failed += 1
            # every call failed validation, along the key's whole escalation chain
            calls = _chain_calls(document, name.removeprefix("tasks."), most)
            tally.escalated += calls > 1
            tally.calls += calls
            tally.invalid += calls
            continue
        finally:
            result.forget()
        escalations = len(out.get("escalated_from") or ())
        tally.calls += int(out["attempts"])
        tally.invalid += escalations
        tally.escalated += escalations > 0
        tally.cost_micros += int(out["cost_micros"])
        tally.mechanisms.add(str(out.get("structured_output")))


def measure(benv: BenchEnv, *, tasks: int, rounds: int,
            rate: float = FORMAT_ERROR_RATE) -> StructuredResult:
    from routing.config.store import ConfigStore
    from workers.app import app

    env = {**benv.env(), "LLM_ROUTER_PROVIDER_MODE": "simulated",
           "LLM_ROUTER_SIMULATED_FORMAT_ERROR_RATE": str(rate),
           "LLM_ROUTER_SIMULATED_LATENCY": "0.01"}
    store = ConfigStore.from_url(benv.redis_url, benv.namespace)
    documents = _documents()
    tallies = {v: Tally() for v in VARIANTS}
    inputs = _inputs(tasks)
    worker = Worker(env, QUEUES, concurrency=8, prefetch=1, name="structured").wait_ready()
    try:
        for _ in range(rounds):
            for variant in VARIANTS:
                _switch(app, store, documents[variant], variant)
                _round(app, inputs, tallies[variant], documents[variant])
    finally:
        worker.stop()
        store.write(documents["native"], author="bench", summary="structured bench: done")
    return StructuredResult(rate, tasks, rounds, tallies)


def main() -> None:
    """`python -m bench.structured [TASKS [ROUNDS]]`: this section alone (the whole bench,
    `python -m bench`, runs it too)."""
    import json
    import os
    import sys

    from bench.env import bench_env, bench_redis_url

    tasks, rounds = (int(a) for a in [*sys.argv[1:], "100", "2"][:2])
    redis_url, _ = bench_redis_url(None, os.environ)
    with bench_env(redis_url) as benv:
        result = measure(benv, tasks=tasks, rounds=rounds)
    print(json.dumps(result.figures(), indent=1))


if __name__ == "__main__":
    main()
