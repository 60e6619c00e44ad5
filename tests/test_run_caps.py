"""Caps on real workers: per-agent daily budgets under each policy; per-run caps (max USD,
max calls) that hold under a 100-way race and across fallbacks; `runs stop` across two
worker processes; bounded metric labels."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from routing.spend.runs import RunBook
from tests.support.celery import Session, WorkerProcess
from tests.support.cli import as_json
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime
from workers.metrics.agents import OTHER, bounded

# A lookup call with prompt "q" and max_tokens 50 reserves 257 micro-dollars (its worst
# case, see test_spend_tasks) and costs 255 when the answer fills the 50 tokens.
WORST = 257


def _configure(session: Session, change: Any) -> int:
    def edit(doc: dict[str, Any]) -> str:
        change(doc)
        return "test caps"

    cfg = session.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=2)
    return cfg.version


def _run_id() -> str:
    return f"run-{uuid.uuid4().hex[:10]}"


def _outcomes(pending: list[AsyncResult]) -> tuple[list[dict[str, Any]], list[Exception]]:
    ok: list[dict[str, Any]] = []
    refused: list[Exception] = []
    for p in pending:
        try:
            ok.append(p.get(timeout=120))
        except Exception as exc:
            refused.append(exc)
    return ok, refused


def test_a_hundred_concurrent_calls_of_one_run_never_pass_its_call_cap(
    worker: Session, llm_server: LLMServer
) -> None:
    run_id = _run_id()
    task = worker.app.tasks["llm.run"]
    pending = [task.delay(model_key="lookup", prompt="q", max_tokens=50, agent="coder",
                          run_id=run_id, run_max_calls=14) for _ in range(100)]
    ok, refused = _outcomes(pending)
    assert len(ok) == 14 and len(llm_server.requests) == 14
    assert len(refused) == 86
    assert {type(e).__name__ for e in refused} == {"RunBudgetExceeded"}
    assert all(f"run '{run_id}'" in str(e) and "14 calls" in str(e) for e in refused)
    run = RunBook(get_runtime().redis, worker.namespace).show(run_id)
    assert run is not None
    view = run.as_dict()
    assert (view["calls"], view["started"], view["refused"]) == (14, 14, 86)
    assert view["state"] == "capped" and view["why"] == "max calls"
    assert view["micros"] == sum(r["cost_micros"] for r in ok)
    # every later call of the run is refused too, nothing called or charged
    with pytest.raises(Exception, match="RunBudgetExceeded") as later:
        task.delay(model_key="lookup", prompt="q", run_id=run_id).get(timeout=30)
    assert type(later.value).__name__ == "RunBudgetExceeded"
    assert len(llm_server.requests) == 14


def test_a_usd_cap_holds_under_concurrency_and_refuses_the_first_call_over_it(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply("y" * 400)  # the server cuts at max_tokens: 255 micro-dollars
    run_id = _run_id()
    cap_usd = f"{5 * WORST / 1e6:.6f}"  # five worst cases: five calls at once fit, not six
    task = worker.app.tasks["llm.run"]
    pending = [task.delay(model_key="lookup", prompt="q", max_tokens=50, run_id=run_id,
                          run_max_usd=cap_usd) for _ in range(40)]
    ok, refused = _outcomes(pending)
    assert len(ok) == 5 and len(refused) == 35
    run = RunBook(get_runtime().redis, worker.namespace).show(run_id)
    assert run is not None
    view = run.as_dict()
    assert view["micros"] <= view["cap_micros"] == 5 * WORST
    assert view["why"] == "max usd" and view["reserved_micros"] == 0
    assert all("spent $" in str(e) and "cap $0.001285" in str(e) for e in refused)


def test_a_run_cap_counts_every_call_across_fallbacks(
    worker: Session, llm_server: LLMServer
) -> None:
    def add_fallback(doc: dict[str, Any]) -> None:
        doc["model_keys"]["lookup"]["fallbacks"] = ["claude-sonnet-4-6"]
    _configure(worker, add_fallback)
    cfg = get_runtime().router.config
    primary = cfg.models[cfg.model_keys["lookup"].model].provider_model
    llm_server.fail(529, times=100, model=primary)
    attempts = get_runtime().settings.attempts_per_model
    # room for the primary's attempts and the fallback's call
    run_ok = _run_id()
    result = worker.app.tasks["llm.run"].delay(
        model_key="lookup", prompt="q", run_id=run_ok, run_max_calls=attempts + 1,
    ).get(timeout=60)
    assert result["fallback_from"] and result["attempts"] == attempts + 1
    # room for the primary's attempts only: the fallback's call is the one refused
    before = len(llm_server.requests)
    run_capped = _run_id()
    with pytest.raises(Exception, match="RunBudgetExceeded") as refused:
        worker.app.tasks["llm.run"].delay(
            model_key="lookup", prompt="q", run_id=run_capped, run_max_calls=attempts,
        ).get(timeout=60)
    assert type(refused.value).__name__ == "RunBudgetExceeded"
    assert len(llm_server.requests) - before == attempts
    run = RunBook(get_runtime().redis, worker.namespace).show(run_capped)
    assert run is not None and run.as_dict()["calls"] == attempts


def test_the_config_caps_an_agents_runs(worker: Session, llm_server: LLMServer) -> None:
    def cap(doc: dict[str, Any]) -> None:
        doc["budgets"]["agents"] = {"looper": {"run_max_calls": 3}}
    _configure(worker, cap)
    run_id = _run_id()
    task = worker.app.tasks["llm.run"]
    ok, refused = _outcomes([task.delay(model_key="lookup", prompt="q", agent="looper",
                                        run_id=run_id) for _ in range(6)])
    assert (len(ok), len(refused)) == (3, 3)
    # another agent's run is not capped by it
    other = _run_id()
    ok, refused = _outcomes([task.delay(model_key="lookup", prompt="q", agent="ceo",
                                        run_id=other) for _ in range(4)])
    assert (len(ok), len(refused)) == (4, 0)


@pytest.mark.parametrize("policy", ["reject", "defer", "downgrade"])
def test_an_agents_daily_budget_under_each_policy(
    worker: Session, llm_server: LLMServer, policy: str
) -> None:
    # drafting runs on a Sonnet-priced model; its worst case here is above 500
    # micro-dollars, the downgrade target's (Kimi) below
    def budget(doc: dict[str, Any]) -> None:
        doc["budgets"]["window_seconds"] = 86397  # a fresh window for this test
        doc["budgets"]["agents"] = {"spender": {"daily_usd": "0.0005",
                                                "on_budget_exceeded": policy}}
        doc["model_keys"]["drafting"]["downgrade_to"] = "kimi-for-coding"
    _configure(worker, budget)
    task = worker.app.tasks["llm.run"]
    sent = task.delay(model_key="drafting", prompt="q", max_tokens=50, agent="spender")
    if policy == "reject":
        with pytest.raises(Exception, match="agent:spender") as refused:
            sent.get(timeout=30)
        assert type(refused.value).__name__ == "BudgetRejectedError"
        assert llm_server.requests == []
    elif policy == "defer":
        wait_until(lambda: sent.state == "DEFERRED", timeout=30, interval=0.1,
                   what="the task deferred for the agent's budget")
        assert sent.info["budget"] == "agent:spender"
        assert llm_server.requests == []
    else:
        result = sent.get(timeout=30)
        assert result["model"] == "kimi-for-coding" and result["downgraded_from"]
    # an unattributed call of the same key is not held by the agent's budget
    assert task.delay(model_key="drafting", prompt="q", max_tokens=50).get(timeout=30)[
        "model_key"] == "drafting"
    status = {b["budget"]: b for b in as_json("budget", "show")["budgets"]}
    assert status["agent:spender"]["limit_micros"] == 500
    assert status["agent:spender"]["policy"] == policy


def test_runs_stop_refuses_every_further_call_on_every_worker(
    celery: Session, llm_server: LLMServer,
    isolated_producer: tuple[dict[str, str], Celery],
    worker_processes: list[WorkerProcess],
) -> None:
    env, producer = isolated_producer
    # two worker processes, each on its own tier's queue (and both on the default queue)
    worker_processes.append(WorkerProcess(env, ["llm.haiku", "celery"], "haiku"))
    worker_processes.append(WorkerProcess(env, ["llm.sonnet", "celery"], "sonnet"))
    for proc in worker_processes:
        proc.wait_ready()
    run_id = _run_id()
    attributed = {"agent": "looper", "run_id": run_id, "prompt": "q"}
    keys = ("lookup", "drafting")  # one per worker
    first = [producer.send_task("llm.run", kwargs={"model_key": k, **attributed})
             for k in keys for _ in range(3)]
    done = [r.get(timeout=60) for r in first]
    assert {r["queue"] for r in done} == {"llm.haiku", "llm.sonnet"}
    # stop it (the CLI), then the run's next calls fail on both workers, nothing called
    stopped = as_json("runs", "stop", run_id)
    assert stopped["state"] == "stopped" and stopped["calls"] == 6
    calls_before = len(llm_server.requests)
    later = [producer.send_task("llm.run", kwargs={"model_key": k, **attributed})
             for k in keys for _ in range(5)]
    for r in later:
        with pytest.raises(Exception, match="stopped by an operator"):
            r.get(timeout=60)
    assert len(llm_server.requests) == calls_before
    shown = as_json("runs", "show", run_id)
    assert shown["refused"] == 10 and shown["calls"] == 6
    assert [c["model_key"] for c in shown["calls_in_order"]].count("drafting") == 3
    # another run of the same agent goes on
    assert producer.send_task("llm.run", kwargs={
        "model_key": "lookup", "prompt": "q", "agent": "looper", "run_id": _run_id(),
    }).get(timeout=60)["model_key"] == "lookup"


def test_metric_labels_are_bounded() -> None:
    spend = {f"agent-{i}": {"calls": 1, "micros": i, "errors": 0} for i in range(500)}
    spend["ceo"] = {"calls": 2, "micros": 1}
    folded = bounded(spend, declared=["ceo", "reviewer"], top=3)
    # the declared agents, the three dearest others, and everything else as `other`
    assert set(folded) == {"ceo", "agent-499", "agent-498", "agent-497", OTHER}
    assert sum(r["calls"] for r in folded.values()) == 502
    assert folded[OTHER]["calls"] == 497
    # an agent that calls itself "other" is counted with the rest
    assert set(bounded({"other": {"calls": 1}}, declared=[], top=5)) == {OTHER}
