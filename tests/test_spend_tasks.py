"""Budgets and the ledger on real workers: reservations bound concurrent spend, deferred
tasks run when the window resets, rejections name their budget, reports add up."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from celery.result import AsyncResult

from routing.prices.pricing import Usage
from routing.reports.report import build_report
from tests.support.celery import Session
from tests.support.llm_server import LLMServer
from tests.support.wait import wait_until
from workers.execution.runtime import get_runtime


def _configure(session: Session, change: Any) -> int:
    def edit(doc: dict[str, Any]) -> str:
        change(doc)
        return "test budgets"

    cfg = session.store.update(edit, author="tests")
    assert get_runtime().live.wait_for_version(cfg.version, timeout=2)
    return cfg.version


def test_fifty_concurrent_tasks_against_room_for_ten(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given: a lookup call's worst case is 5 input tokens at $1.25/MTok (the dearest input
    # rate, a cache write) + 50 output tokens at $5/MTok = 256.25, reserved as 257
    # micro-dollars, its actual cost 255; a budget of 2,570 micro-dollars admits exactly
    # ten such calls (ten reservations at once fit, an eleventh never does).
    llm_server.set_reply("y" * 400)  # longer than max_tokens: the server cuts at 50
    def budget(doc: dict[str, Any]) -> None:
        doc["budgets"]["window_seconds"] = 86399  # a fresh window for this test
        doc["budgets"]["model_keys"]["lookup"] = {"daily_usd": "0.00257"}
        doc["model_keys"]["lookup"]["on_budget_exceeded"] = "reject"
        doc["model_keys"]["lookup"].pop("downgrade_to", None)
    _configure(worker, budget)
    run = worker.app.tasks["llm.run"]
    # When 50 tasks race for it (prompt "q": 1 token + 4 of message overhead)
    pending = [run.delay(model_key="lookup", prompt="q", max_tokens=50) for _ in range(50)]
    ok, refused = [], []
    for p in pending:
        try:
            ok.append(p.get(timeout=60))
        except Exception as exc:
            refused.append(str(exc))
    # Then ten calls were made, and spend stayed within the budget
    assert len(ok) == 10 and len(llm_server.requests) == 10
    assert len(refused) == 40
    assert all("model_key:lookup" in r and "resets at" in r for r in refused)
    assert sum(r["cost_micros"] for r in ok) == 10 * 255 <= 2570
    status = {s.budget: s for s in get_runtime().budgets.status(worker.store.read())}
    lookup = status["model_key:lookup"]
    assert lookup.spent_micros == 2550 and lookup.reserved_micros == 0


def test_deferred_task_runs_after_its_window_resets(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a budget window (a long one: the test moves it, not the clock) with room for
    # one monitoring call
    llm_server.set_reply("z" * 400)

    def budget(window: int) -> Callable[[dict[str, Any]], None]:
        def change(doc: dict[str, Any]) -> None:
            doc["budgets"]["window_seconds"] = window
            doc["budgets"]["model_keys"]["monitoring"] = {"daily_usd": "0.0003"}
            doc["model_keys"]["monitoring"]["max_tokens"] = 50
        return change

    _configure(worker, budget(86393))
    run = worker.app.tasks["llm.run"]
    first = run.delay(model_key="monitoring", prompt="one").get(timeout=30)
    # When a second task finds the budget spent, it is parked until the window resets
    second = run.delay(model_key="monitoring", prompt="two")
    wait_until(lambda: AsyncResult(second.id, app=worker.app).state == "DEFERRED", timeout=10)
    assert len(llm_server.requests) == 1
    rt = get_runtime()  # (the session's namespace may hold tasks other tests parked)
    ((parked, due),) = [(p, due) for p, due in rt.deferred.pending()
                        if p["options"]["task_id"] == second.id]
    assert due > time.time() + 60  # the end of the window, not soon
    # ...and the window resets: a fresh window (new length, so new counters) whose start
    # is now, and the parked task due now
    _configure(worker, budget(86391))
    rt.redis.zadd(rt.deferred.key, {json.dumps(parked, sort_keys=True): time.time()})
    # Then it runs, once, in the new window: nothing lost
    out = second.get(timeout=30)
    assert out["deferrals"] == 1 and out["model"] == first["model"]
    assert len(llm_server.requests) == 2
    assert second.id not in {p["options"]["task_id"] for p, _ in rt.deferred.pending()}


def test_a_deferred_task_is_visible_while_it_waits(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given a spent monitoring budget whose window lasts a day
    def budget(doc: dict[str, Any]) -> None:
        doc["budgets"]["window_seconds"] = 86397
        doc["budgets"]["model_keys"]["monitoring"] = {"daily_usd": "0"}
    _configure(worker, budget)
    # (the session's namespace may hold tasks other tests of this process parked)
    before = {p["options"]["task_id"] for p, _ in get_runtime().deferred.pending()}
    pending = worker.app.tasks["llm.run"].delay(model_key="monitoring", prompt="later")
    wait_until(lambda: AsyncResult(pending.id, app=worker.app).state == "DEFERRED", timeout=10)
    # Then operators see it: its state names the budget, `budget show` counts it
    meta = AsyncResult(pending.id, app=worker.app).info
    assert meta["budget"] == "model_key:monitoring" and meta["resets_at"]
    assert _budget_show()["deferred_tasks"] == len(before) + 1
    parked = [(p, due) for p, due in get_runtime().deferred.pending()
              if p["options"]["task_id"] not in before]
    assert [p["options"]["task_id"] for p, _ in parked] == [pending.id]
    assert llm_server.requests == []
    rt = get_runtime()  # ours only is taken away
    (member,) = [m for m in rt.redis.zrange(rt.deferred.key, 0, -1)
                 if json.loads(m)["options"]["task_id"] == pending.id]
    rt.deferred.done(member.decode())


def test_rejected_task_names_its_budget_and_when_it_resets(
    worker: Session, llm_server: LLMServer
) -> None:
    def budget(doc: dict[str, Any]) -> None:
        doc["budgets"]["model_keys"]["strategic_decision"] = {"daily_usd": "0"}
        doc["model_keys"]["strategic_decision"]["on_budget_exceeded"] = "reject"
    _configure(worker, budget)
    pending = worker.app.tasks["llm.run"].delay(model_key="strategic_decision", prompt="?")
    with pytest.raises(Exception) as info:
        pending.get(timeout=30)
    message = str(info.value)
    assert "budget 'model_key:strategic_decision' exceeded" in message
    assert "spent $" in message and "resets at" in message
    assert llm_server.requests == []


def test_downgrade_policy_moves_the_call_to_the_cheaper_model(
    worker: Session, llm_server: LLMServer
) -> None:
    def budget(doc: dict[str, Any]) -> None:
        doc["budgets"]["window_seconds"] = 86398
        doc["budgets"]["model_keys"]["classification"] = {"daily_usd": "0.0005"}
    _configure(worker, budget)
    out = worker.app.tasks["llm.run"].delay(
        model_key="classification", prompt="x" * 400, max_tokens=200
    ).get(timeout=30)
    # The Haiku worst case (101 input + 200 output tokens) exceeds $0.0005; Kimi fits
    assert out["model"] == "kimi-for-coding" and out["downgraded_from"] == "claude-haiku-4-5"
    assert [r.model for r in llm_server.requests] == ["kimi-for-coding"]


def test_report_totals_equal_usage_times_price_from_the_server(
    worker: Session, llm_server: LLMServer
) -> None:
    # Given calls on several models, one of which retries after a 429
    llm_server.rate_limit(times=1, retry_after=0.2, model="claude-sonnet-4-6")
    run = worker.app.tasks["llm.run"]
    keys = ["lookup", "drafting", "large_context_coding", "strategic_decision", "drafting"]
    results = [run.delay(model_key=k, prompt=f"work for {k}").get(timeout=30) for k in keys]
    cfg = worker.store.read()
    # The server's usage records, priced independently of routing.prices.pricing
    by_provider_model = {m.provider_model: name for name, m in cfg.models.items()}
    expected = 0
    for req in llm_server.requests:
        if req.usage is None:
            continue  # the 429: no usage, no cost
        price = cfg.models[by_provider_model[str(req.model)]].price
        assert price is not None
        usage = _usage(req.api, req.usage)
        expected += int(Decimal(usage.input_tokens) * price.input
                        + Decimal(usage.output_tokens) * price.output
                        + Decimal(usage.cache_read_tokens) * price.cache_read
                        + Decimal(usage.cache_write_tokens) * price.cache_write
                        + Decimal("0.5"))
    # Then the tasks' costs, the ledger's per-call records and the report agree with it
    assert sum(r["cost_micros"] for r in results) == expected
    ledger = get_runtime().ledger
    today = datetime.now(UTC).date()
    ids = {r["task_id"] for r in results}
    records = [c for c in ledger.calls(today) if c["task_id"] in ids]
    assert len(records) == len(llm_server.requests)  # the 429 is recorded, at $0
    assert sum(c["cost_micros"] for c in records) == expected
    report = build_report(ledger, cfg, day=today)
    everything = ledger.calls(today)
    assert report["totals"]["spend_micros"] == sum(c.get("cost_micros", 0) for c in everything)


def _budget_show() -> dict[str, Any]:
    from tests.support.cli import as_json

    shown: dict[str, Any] = as_json("budget", "show")
    return shown


def _usage(api: str, wire: dict[str, Any]) -> Usage:
    if api == "anthropic":
        return Usage(wire["input_tokens"], wire["output_tokens"],
                     wire.get("cache_read_input_tokens") or 0,
                     wire.get("cache_creation_input_tokens") or 0)
    cached = (wire.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(wire["prompt_tokens"] - cached, wire["completion_tokens"], cached, 0)


def test_a_price_change_between_two_calls_prices_each_at_its_time(
    worker: Session, llm_server: LLMServer
) -> None:
    llm_server.set_reply("w" * 400)
    run = worker.app.tasks["llm.run"]
    before = run.delay(model_key="lookup", prompt="q", max_tokens=50).get(timeout=30)
    # 5 input tokens x $1 + 50 output tokens x $5 per MTok
    assert before["cost_micros"] == 255

    def dearer(doc: dict[str, Any]) -> None:
        doc["models"]["claude-haiku-4-5"]["price"]["output"] = "8"
    _configure(worker, dearer)
    after = run.delay(model_key="lookup", prompt="q", max_tokens=50).get(timeout=30)
    assert after["cost_micros"] == 405
    today = datetime.now(UTC).date()
    costs = {c["task_id"]: c["cost_micros"] for c in get_runtime().ledger.calls(today)}
    assert (costs[before["task_id"]], costs[after["task_id"]]) == (255, 405)
