"""The multi-agent example (examples/agents) on real workers, and its one command offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from examples.agents.system import AGENTS, handle, repo_files, run_cost, runaway
from routing.spend.runs import RunBook
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from workers.execution.runtime import get_runtime

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_runs_on_real_workers_and_costs_per_agent(
    worker: Session, llm_server: LLMServer
) -> None:
    outcome = handle(worker.app, "Keep cart totals from going negative.")
    agents = [s.agent for s in outcome.steps]
    files = repo_files()
    assert agents == ["ceo", "orchestrator", *["coder"] * len(files), "reviewer", "ceo"]
    assert outcome.approved  # the test server's answer does not start with NO
    rt = get_runtime()
    cost = run_cost(RunBook(rt.redis, worker.namespace), rt.router.config, outcome.run_id)
    # every agent's calls and cost, from the ledger, adding up to the run's
    assert set(cost.per_agent) == set(AGENTS)
    assert cost.per_agent["coder"][0] == len(files) and cost.per_agent["ceo"][0] == 2
    assert sum(m for _, m in cost.per_agent.values()) == cost.total_micros == sum(
        s.cost_micros for s in outcome.steps)
    # each agent on its key's model; the run all on the CEO's model costs more
    cfg = rt.router.config
    for step in outcome.steps:
        assert step.model == cfg.model_keys[AGENTS[step.agent]].model
    assert cost.single_model == cfg.model_keys["strategic_decision"].model
    assert cost.single_model_micros > cost.total_micros


def test_the_example_runs_offline_with_one_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "examples.agents"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "cost per agent:" in out and "cost per model:" in out
    for agent in AGENTS:
        assert f"  {agent} " in out
    assert "the same calls all on" in out and "x the routed run" in out


def test_a_looping_agent_is_stopped_by_its_run_cap(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply("z" * 4000)  # every answer fills its 256 tokens
    run_id, made, refusal = runaway(worker.app, run_max_usd=0.02)
    assert made > 0 and "RunBudgetExceeded" in refusal and "max usd" in refusal
    run = RunBook(get_runtime().redis, worker.namespace).show(run_id)
    assert run is not None
    view = run.as_dict()
    assert view["calls"] == made and view["refused"] == 1
    # within one call of the cap: the spend plus one more call's cost would pass it
    per_call = view["micros"] // made
    assert view["micros"] <= view["cap_micros"] < view["micros"] + 2 * per_call
