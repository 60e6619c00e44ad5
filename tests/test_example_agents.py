"""examples/agents: the strategy's multi-agent system, run on real workers against Redis
(simulated provider), and offline with nothing but Python."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from routing.config.defaults import default_config
from routing.config.store import ConfigStore
from routing.prices.pricing import Usage, cost_micros
from tests.support.celery import ALL_QUEUES, ROOT, WorkerProcess
from tests.test_demo import clean_env, closed_port, demo_env  # noqa: F401  (fixture)

AGENTS = {"ceo", "orchestrator", "coder", "reviewer"}
TOOLS = {"list_dir", "read_file", "propose_patch"}


def run_example(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "examples.agents", "--json", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def check(report: dict[str, Any]) -> None:
    config = default_config()
    summary, played = report["summary"], report["played"]
    calls = played["calls"]
    assert {c["agent"] for c in calls} == AGENTS
    # every agent's call went to the model its model key routes to (or a hop from it)
    for c in calls:
        assert c["model_key"] in {"strategic_decision", "orchestration", "code_generation",
                                  "code_review"}
        assert c["model"] in config.models
    # the coding workers worked in tool-calling loops over the sample repository
    coder = [c for c in calls if c["agent"] == "coder"]
    used = {t["name"] for c in coder for t in c.get("tool_calls") or []}
    assert used == TOOLS
    assert any(c["stop_reason"] == "tool_use" for c in coder)
    assert any(c["stop_reason"] == "end_turn" for c in coder)
    assert played["patches"]
    # cost per agent adds up to the run's, and all on Opus costs more
    assert summary["cost_micros"] == sum(c["cost_micros"] for c in calls) > 0
    assert summary["cost_micros"] == sum(a["cost_micros"] for a in summary["agents"].values())
    assert summary["cost_micros"] == sum(m["cost_micros"] for m in summary["models"].values())
    opus = config.price_of(summary["opus_model"])
    assert summary["all_opus_micros"] == sum(
        cost_micros(Usage(**c["usage"]), opus) for c in calls)
    assert summary["all_opus_micros"] > summary["cost_micros"]
    # the ledger's record of the run (every call, its agent) says the same
    ledger = played["ledger"]
    assert ledger["run_id"] == summary["run_id"] and ledger["calls"] == len(calls)
    assert ledger["micros"] == summary["cost_micros"]
    assert {a: v["micros"] for a, v in ledger["agents"].items()} == {
        a: v["cost_micros"] for a, v in summary["agents"].items()}
    # the monitoring cron ran beside the run and handed on its work
    crons = {c["cron"]: c for c in played["crons"]}
    assert crons["cron.monitoring"]["answer"]["model_key"] == "monitoring"


def test_example_runs_on_real_workers(redis_url: str, demo_env: dict[str, str]) -> None:  # noqa: F811
    from cli.demo.namespace import claim

    namespace = demo_env["LLM_ROUTER_NAMESPACE"]
    store = ConfigStore.from_url(redis_url, namespace)
    claim(store.redis, store)
    store.init(author="tests")
    worker = WorkerProcess(demo_env, ALL_QUEUES, "agents", concurrency=8, extra_env={
        "LLM_ROUTER_PROVIDER_MODE": "simulated", "LLM_ROUTER_SIMULATED_LATENCY": "0.01"})
    try:
        worker.wait_ready()
        report = run_example(demo_env, "--redis-url", redis_url, "--namespace", namespace)
    finally:
        worker.stop()
    check(report)


def test_example_runs_offline_and_prints_cost_per_agent() -> None:
    env = clean_env(LLM_ROUTER_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    check(run_example(env))
    proc = subprocess.run([sys.executable, "-m", "examples.agents"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for text in ("cost per agent", "all on claude-opus", "cost per model", "the run",
                 "ceo", "orchestrator", "coder", "reviewer", "calls list_dir"):
        assert text in proc.stdout, text


def test_the_runs_cap_ends_it() -> None:
    env = clean_env(LLM_ROUTER_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    # An Opus call reserves its worst case (4,096 output tokens: $0.10) first: at $0.12 the
    # run makes its first calls, then one would pass the cap with what is reserved
    cap = 0.12
    report = run_example(env, "--run-max-usd", str(cap))
    played = report["played"]
    assert "RunBudgetExceeded" in played["stopped"] or "cap" in played["stopped"]
    ledger = played["ledger"]
    assert ledger["state"] == "capped" and ledger["refused"] >= 1
    assert ledger["micros"] <= cap * 1_000_000  # never over the cap, reservations included
    assert 0 < ledger["calls"] == len(played["calls"])  # the refused call charged nothing
