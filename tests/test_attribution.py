"""Attribution on real workers: agent, run and tags from kwargs or headers, kept through
chains, groups, chords and every hop, counted per agent, tag and run in the settle's own
step; bad attribution refused with its field; Flower-visible in the result."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from celery import chain, chord, group

from routing.attribution import parse
from routing.errors import AttributionError
from routing.spend.runs import RunBook
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from workers.attribution import attributed
from workers.execution.runtime import get_runtime


def _book(session: Session) -> RunBook:
    return RunBook(get_runtime().redis, session.namespace)


def _run_id() -> str:
    return f"run-{uuid.uuid4().hex[:10]}"


def _configure(session: Session, change: Any) -> int:
    def edit(doc: dict[str, Any]) -> str:
        change(doc)
        return "test attribution"

    cfg = session.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=2)
    return cfg.version


def test_kwargs_attribute_a_call_to_agent_run_and_tags(
    worker: Session, llm_server: LLMServer
) -> None:
    run_id = _run_id()
    result = worker.app.tasks["llm.run"].delay(
        model_key="lookup", prompt="q", agent="ceo", run_id=run_id,
        tags={"team": "growth", "env": "test"}).get(timeout=30)
    # the result names who asked (Flower shows it with the routing facts)
    assert (result["agent"], result["run_id"]) == ("ceo", run_id)
    assert result["tags"] == {"env": "test", "team": "growth"}
    assert list(result)[:9] == ["model_key", "model", "cost_usd", "tier", "queue", "usage",
                                "agent", "run_id", "tags"]
    run = _book(worker).show(run_id)
    assert run is not None
    view = run.as_dict()
    assert view["agent"] == "ceo" and view["calls"] == 1
    assert view["micros"] == result["cost_micros"] > 0
    assert view["reserved_micros"] == 0
    [call] = view["calls_in_order"]
    assert (call["model_key"], call["model"], call["cost_micros"]) == (
        "lookup", result["model"], result["cost_micros"])
    spend = _book(worker).spend([run.calls[0]["day"]])
    assert spend["agent"]["ceo"].get("micros") >= result["cost_micros"]
    assert spend["tag"]["team=growth"].get("calls") >= 1
    # and the production ledger's call record carries them
    calls = get_runtime().ledger.calls(run.calls[0]["day"])
    mine = [c for c in calls if c.get("run_id") == run_id]
    assert len(mine) == 1 and mine[0]["agent"] == "ceo"


def test_headers_attribute_a_foreign_send(worker: Session, llm_server: LLMServer) -> None:
    run_id = _run_id()
    result = worker.app.send_task(
        "llm.run", kwargs={"model_key": "lookup", "prompt": "q"},
        headers={"llm_agent": "coder", "llm_run_id": run_id, "llm_tags": "repo=x"},
    ).get(timeout=30)
    assert (result["agent"], result["run_id"], result["tags"]) == ("coder", run_id,
                                                                   {"repo": "x"})
    run = _book(worker).show(run_id)
    assert run is not None and run.as_dict()["calls"] == 1


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"agent": "c e o"}, "agent"),
    ({"agent": "x" * 65}, "agent"),
    ({"run_id": 7}, "run_id"),
    ({"tags": {"k": "v v"}}, "tags.k"),
    ({"tags": {f"k{i}": "v" for i in range(9)}}, "tags"),
    ({"run_id": "r1", "run_max_usd": "-1"}, "run_max_usd"),
    ({"run_id": "r1", "run_max_calls": 0}, "run_max_calls"),
    ({"run_max_calls": 3}, "run_max_calls"),
])
def test_bad_attribution_is_refused_with_its_field(
    worker: Session, llm_server: LLMServer, kwargs: dict[str, Any], path: str
) -> None:
    with pytest.raises(AttributionError) as raised:
        parse(kwargs)
    assert raised.value.path == path
    with pytest.raises(Exception, match=re.escape(f"llm.run: {path}")) as failed:
        worker.app.tasks["llm.run"].delay(model_key="lookup", prompt="q", **kwargs).get(
            timeout=30)
    assert type(failed.value).__name__ == "TaskInputError"
    assert llm_server.requests == []  # nothing called, nothing charged


def test_a_bad_header_names_the_header(worker: Session, llm_server: LLMServer) -> None:
    with pytest.raises(Exception, match=r"headers\.llm_agent"):
        worker.app.send_task("llm.run", kwargs={"model_key": "lookup", "prompt": "q"},
                             headers={"llm_agent": "bad agent"}).get(timeout=30)
    assert llm_server.requests == []


def test_chain_group_and_chord_sent_in_a_run_keep_it(
    worker: Session, llm_server: LLMServer
) -> None:
    run_id = _run_id()
    sig = worker.app.signature
    call = {"model_key": "lookup", "prompt": "q"}
    with attributed(agent="orchestrator", run_id=run_id, tags={"flow": "canvas"}):
        # a chain of three (the 2nd and 3rd are sent by the worker), a group of two, a
        # chord of two with its callback (sent by the worker)
        chained = chain(sig("llm.run", kwargs=call, immutable=True),
                        sig("llm.run", kwargs=call, immutable=True),
                        sig("llm.run", kwargs=call, immutable=True)).apply_async()
        grouped = group(sig("llm.run", kwargs=call, immutable=True) for _ in range(2))()
        chorded = chord([sig("llm.run", kwargs=call, immutable=True) for _ in range(2)])(
            sig("llm.run", kwargs=call, immutable=True))
    last = chained.get(timeout=60)
    assert last["run_id"] == run_id and last["agent"] == "orchestrator"
    assert all(r["run_id"] == run_id for r in grouped.get(timeout=60))
    assert chorded.get(timeout=60)["run_id"] == run_id
    run = _book(worker).show(run_id)
    assert run is not None
    assert run.as_dict()["calls"] == 8  # 3 + 2 + 2 + 1, every call of the run
    assert {c["model_key"] for c in run.calls} == {"lookup"}


def test_hops_keep_the_run_fallback_and_escalation(
    worker: Session, llm_server: LLMServer
) -> None:
    cfg = get_runtime().router.config
    key = next(k for k, s in cfg.model_keys.items() if s.fallbacks and k == "lookup") \
        if cfg.model_keys["lookup"].fallbacks else None
    if key is None:
        def add_fallback(doc: dict[str, Any]) -> None:
            doc["model_keys"]["lookup"]["fallbacks"] = ["claude-sonnet-4-6"]
        _configure(worker, add_fallback)
    primary = get_runtime().router.config.model_keys["lookup"]
    provider_model = get_runtime().router.config.models[primary.model].provider_model
    llm_server.fail(529, times=50, model=provider_model)  # the primary keeps failing
    run_id = _run_id()
    result = worker.app.tasks["llm.run"].delay(
        model_key="lookup", prompt="q", agent="coder", run_id=run_id).get(timeout=60)
    assert result["fallback_from"] and result["run_id"] == run_id
    run = _book(worker).show(run_id)
    assert run is not None
    hops = [c["hop"] for c in run.calls]
    # every call (the failed attempts on the primary, then the fallback) is the run's, in
    # order, the last one reached by a fallback
    assert len(run.calls) == result["attempts"] and hops[-1] == "fallback"
    assert run.calls[-1]["model"] == result["model"]
    assert run.as_dict()["errors"] == result["attempts"] - 1


def test_a_batched_call_and_a_shadow_trial_keep_the_run_trial_spend_apart(
    worker: Session, llm_server: LLMServer
) -> None:
    from tests.support.batches import beat_round, set_batch
    from tests.support.wait import wait_until

    # content_curation waits for a provider batch on Haiku
    set_batch(worker, "content_curation", "claude-haiku-4-5", max_wait_seconds=600)
    run_id = _run_id()
    sent = worker.app.send_task(
        "llm.run", kwargs={"model_key": "content_curation", "prompt": "p0"},
        headers={"llm_agent": "curator", "llm_run_id": run_id})
    wait_until(lambda: get_runtime().batches.summary().get("open", (0, 0))[1] == 1,
               what="the call in its open batch")
    beat_round(worker.app, flush=True)
    beat_round(worker.app)
    result = sent.get(timeout=30)
    assert result["batch_id"] and result["run_id"] == run_id
    run = _book(worker).show(run_id)
    assert run is not None
    [call] = run.calls
    assert call["hop"] == "batch" and call["agent"] == "curator"
    assert call["cost_micros"] == result["cost_micros"]

    # a shadow trial of a production call of another run: attributed to that run, as
    # trial spend (never the run's production spend)
    def trial(doc: dict[str, Any]) -> None:
        doc["model_keys"]["lookup"]["trials"] = [
            {"candidate": "kimi-for-coding", "sample": 1.0, "daily_budget_usd": "1"}]
    _configure(worker, trial)
    traced = _run_id()
    with attributed(agent="ceo", run_id=traced):
        prod = worker.app.tasks["llm.run"].delay(model_key="lookup", prompt="q").get(
            timeout=30)

    def shadowed() -> dict[str, Any] | None:
        shown = _book(worker).show(traced)
        view = shown.as_dict() if shown else None
        return view if view and view["trial_calls"] == 1 else None

    view = wait_until(shadowed, timeout=20, what="the shadow's call in the run")
    assert view["calls"] == 1 and view["micros"] == prod["cost_micros"]
    assert view["trial_micros"] > 0
    assert [c.get("trial", False) for c in view["calls_in_order"]] == [False, True]
    assert view["calls_in_order"][1]["hop"] == "trial"
    assert view["agents"] == {"ceo": {"calls": 1, "micros": prod["cost_micros"]}}


def test_cost_report_by_agent_run_and_tag_and_the_html_page(
    worker: Session, llm_server: LLMServer, tmp_path: Any
) -> None:
    from tests.support.cli import as_json, run

    run_id = _run_id()
    task = worker.app.tasks["llm.run"]
    task.delay(model_key="lookup", prompt="q", agent="reporter-a", run_id=run_id,
               tags={"team": "ops"}).get(timeout=30)
    task.delay(model_key="drafting", prompt="q", agent="reporter-b", run_id=run_id).get(
        timeout=30)
    by_agent = as_json("cost", "report", "--by", "agent")
    agents = {a["name"]: a for a in by_agent["agents"]}
    assert agents["reporter-a"]["calls"] >= 1 and agents["reporter-b"]["micros"] > 0
    assert run_id in agents["reporter-a"]["dearest_runs"]
    by_tag = as_json("cost", "report", "--by", "tag")
    assert any(t["name"] == "team=ops" for t in by_tag["tags"])
    by_run = as_json("cost", "report", "--by", "run")
    mine = next(r for r in by_run["runs"] if r["run_id"] == run_id)
    assert mine["calls"] == 2 and mine["agent"] == "reporter-a"
    one = as_json("cost", "report", "--run", run_id)
    assert [(c["agent"], c["model_key"]) for c in one["calls_in_order"]] == [
        ("reporter-a", "lookup"), ("reporter-b", "drafting")]
    assert set(one["agents"]) == {"reporter-a", "reporter-b"}
    text = run("cost", "report", "--run", run_id).stdout
    assert "reporter-b" in text and "drafting" in text
    assert "reporter-a" in run("cost", "report", "--by", "agent").stdout
    page = tmp_path / "report.html"
    run("cost", "report", "--html", str(page))
    html = page.read_text("utf-8")
    assert 'id="agent-reporter-a"' in html and 'id="runs"' in html and run_id in html
    assert "--by must be agent, run or tag" in run("cost", "report", "--by", "model",
                                                   code=2).stderr
    assert "no run 'no-such-run'" in run("runs", "show", "no-such-run", code=1).stderr
    assert "run_id" in run("runs", "show", "bad run", code=2).stderr


def test_an_escalation_keeps_the_run(worker: Session, llm_server: LLMServer) -> None:
    import json as _json

    # the classification model answers junk; its escalation target answers well
    cfg = get_runtime().router.config
    spec = cfg.model_keys["classification"]
    assert spec.escalate_to is not None
    target = cfg.models[cfg.model_keys[spec.escalate_to].model].provider_model
    llm_server.set_reply("no json")
    llm_server.set_reply(_json.dumps({"label": "bug", "confidence": 0.9}), model=target)
    run_id = _run_id()
    result = worker.app.tasks["tasks.classification"].delay(
        text="it crashes", labels=["bug", "question"], agent="triage", run_id=run_id,
    ).get(timeout=60)
    assert result["escalated_from"] and result["run_id"] == run_id
    run = _book(worker).show(run_id)
    assert run is not None
    assert [c["hop"] for c in run.calls][-1] == "escalate"
    assert len(run.calls) == result["attempts"]


def test_a_turn_attributed_by_kwargs_is_still_shadowed(
    worker: Session, llm_server: LLMServer
) -> None:
    # the trial sampler reads what the turn needs from its kwargs: the agent and run given
    # there are not the call's input (they were once refused there: no shadow was sent)
    from tests.support.wait import wait_until

    def trial(doc: dict[str, Any]) -> None:
        doc["model_keys"]["lookup"]["trials"] = [
            {"candidate": "kimi-for-coding", "sample": 1.0, "daily_budget_usd": "1"}]
    _configure(worker, trial)
    traced = _run_id()
    worker.app.tasks["llm.run"].delay(
        model_key="lookup", messages=[{"role": "user", "content": "q"}], agent="coder",
        run_id=traced).get(timeout=30)

    def shadowed() -> dict[str, Any] | None:
        shown = _book(worker).show(traced)
        view = shown.as_dict() if shown else None
        return view if view and view["trial_calls"] == 1 else None

    view = wait_until(shadowed, timeout=20, what="the shadow's call in the run")
    assert [c.get("trial", False) for c in view["calls_in_order"]] == [False, True]
