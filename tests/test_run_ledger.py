"""Runs and attribution in the budget and ledger scripts, against a real Redis (and a
Redis Cluster): the cap and stop flag in the reservation, the counters in the settle, a
run's call charged at its bound when its worker died, expiry, trial spend apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from routing.attribution import Attribution, RunCap
from routing.errors import RunBudgetExceededError
from routing.keys import day_key, keyspace, run_key
from routing.prices.pricing import Usage
from routing.spend.budget import BudgetBook
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from routing.spend.runs import RunBook
from tests.support.spend import config_with, counting_client
from tests.support.wait import wait_until

HAIKU = "claude-haiku-4-5"
WHO = Attribution("coder", "run-1", (("team", "a"),))


def _record(call_id: str, cost: int, who: Attribution = WHO, **kw: object) -> CallRecord:
    return CallRecord(task_id=f"task-{call_id}", call_id=call_id, model_key="lookup",
                      model=HAIKU, tier="haiku", usage=Usage(10, 5), cost_micros=cost,
                      attribution=who, **kw)  # type: ignore[arg-type]


def test_reserve_and_settle_count_the_run_agent_and_tags(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with()
    book = BudgetBook(redis_client, namespace, run_keep_days=3)
    ledger = Ledger(redis_client, namespace, run_keep_days=3)
    held = book.reserve(cfg, "lookup", "c1", 900, attribution=WHO, model=HAIKU, tier="haiku")
    runs = RunBook(redis_client, namespace)
    run = runs.show("run-1")
    assert run is not None
    assert run.as_dict()["reserved_micros"] == 900 and run.as_dict()["started"] == 1
    day = ledger.settle(_record(held.call_id, 700, hop="fallback")).day
    view = runs.show("run-1").as_dict()  # type: ignore[union-attr]
    assert (view["calls"], view["micros"], view["reserved_micros"]) == (1, 700, 0)
    assert view["agent"] == "coder" and view["input_tokens"] == 10
    [call] = view["calls_in_order"]
    assert (call["hop"], call["agent"], call["cost_micros"], call["output_tokens"]) == (
        "fallback", "coder", 700, 5)
    spend = runs.spend([day])
    assert spend["agent"]["coder"].counts["micros"] == 700
    assert spend["tag"]["team=a"].counts["calls"] == 1
    assert runs.dearest([day]) == [("run-1", 700)]
    # runs expire LLM_ROUTER_RUN_DAYS after their last call; the day's runs with them
    prefix = keyspace(namespace)
    for key in (run_key(prefix, "run-1"), f"{run_key(prefix, 'run-1')}:calls",
                day_key(prefix, day, "runs")):
        assert 2 * 86400 < redis_client.ttl(key) <= 3 * 86400
    # the agent's budget counts its spend (limited only where the config says)
    status = {s.budget: s for s in book.status(config_with({"agents": {"coder": {}}}))}
    assert status["agent:coder"].spent_micros == 700


def test_an_attributed_call_makes_the_same_two_round_trips(redis_url: str,
                                                           namespace: str) -> None:
    client, conn = counting_client(redis_url)
    try:
        cfg = config_with()
        book, ledger = BudgetBook(client, namespace), Ledger(client, namespace)
        book.reserve(cfg, "lookup", "warm", 1, attribution=WHO)
        ledger.settle(_record("warm", 1))
        conn.round_trips = 0
        held = book.reserve(cfg, "lookup", "c2", 900, attribution=WHO)
        ledger.settle(_record(held.call_id, 700))
        assert conn.round_trips == 2
    finally:
        client.close()


def test_the_first_call_fixes_the_cap_and_a_stopped_run_refuses_everything(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with()
    book = BudgetBook(redis_client, namespace)
    capped = Attribution("coder", "run-2", (), RunCap(max_calls=2))
    book.reserve(cfg, "lookup", "a", 10, attribution=capped)
    # a later sender's bigger cap does not widen it
    book.reserve(cfg, "lookup", "b", 10,
                 attribution=Attribution("coder", "run-2", (), RunCap(max_calls=50)))
    with pytest.raises(RunBudgetExceededError) as refused:
        book.reserve(cfg, "lookup", "c", 10, attribution=capped)
    assert (refused.value.reason, refused.value.calls, refused.value.cap_calls) == (
        "max calls", 2, 2)
    # stopping works before a run's first call too
    runs = RunBook(redis_client, namespace)
    assert runs.stop("run-3").as_dict()["state"] == "stopped"
    with pytest.raises(RunBudgetExceededError, match="stopped by an operator"):
        book.reserve(cfg, "lookup", "d", 10, attribution=Attribution("x", "run-3"))
    status = {s.budget: s for s in book.status(cfg)}
    assert status["overall"].reserved_micros == 20  # the refused calls hold nothing


def test_concurrent_reservations_of_one_run_never_pass_its_usd_cap(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with()
    book = BudgetBook(redis_client, namespace)
    who = Attribution("coder", "run-4", (), RunCap(max_micros=10_000))

    def one(i: int) -> bool:
        try:
            book.reserve(cfg, "lookup", f"r{i}", 1_000, attribution=who)
        except RunBudgetExceededError:
            return False
        return True

    with ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(one, range(100))) == 10


def test_a_runs_call_left_unsettled_is_charged_to_the_run_at_its_bound(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with()
    book = BudgetBook(redis_client, namespace)
    book.reserve(cfg, "lookup", "lost", 900, ttl=0.05, attribution=WHO, owner="task-lost",
                 model=HAIKU, tier="haiku")
    runs = RunBook(redis_client, namespace)

    def charged() -> dict[str, object] | None:
        book.status(cfg)  # any script charges reservations past their deadline
        view = runs.show("run-1").as_dict()  # type: ignore[union-attr]
        return view if view["micros"] else None

    # once its deadline passed (a worker that died), the next script charged it
    view = wait_until(charged, timeout=5, what="the lost call charged at its bound")
    assert (view["micros"], view["reserved_micros"], view["calls"]) == (900, 0, 1)
    assert view["calls_in_order"][0]["hop"] == "estimated"


def test_trial_spend_is_the_runs_but_apart(redis_client: redis.Redis, namespace: str) -> None:
    ledger = Ledger(redis_client, namespace)
    day = ledger.settle(_record("prod", 500)).day
    ledger.settle(_record("shadow", 300, trial=True, hop="trial",
                          budgets=("trial:lookup:kimi-for-coding",)))
    runs = RunBook(redis_client, namespace)
    view = runs.show("run-1").as_dict()  # type: ignore[union-attr]
    assert (view["micros"], view["trial_micros"], view["trial_calls"]) == (500, 300, 1)
    assert runs.dearest([day]) == [("run-1", 500)]
    agent = runs.spend([day])["agent"]["coder"].counts
    assert (agent["micros"], agent["trial_micros"]) == (500, 300)
