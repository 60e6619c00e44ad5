"""The cost ledger against a real Redis: aggregates, call-time prices, records, expiry."""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
import redis

from routing.days import day_text
from routing.errors import BudgetExceededError
from routing.keys import keyspace
from routing.prices.pricing import Usage, cost_micros
from routing.spend.budget import BudgetBook
from routing.spend.call_record import CallRecord, Outcome
from routing.spend.ledger import Ledger
from tests.support.spend import config_with

# The shipped price table, written out again so that costs are recomputed independently.
PRICES = {  # model: (input, output, cache read, cache write) USD per MTok
    "claude-opus-4-6": ("5", "25", "0.5", "6.25"),
    "claude-sonnet-4-6": ("3", "15", "0.3", "3.75"),
    "claude-haiku-4-5": ("1", "5", "0.1", "1.25"),
    "kimi-for-coding": ("0.30", "1.50", "0.075", "0.30"),
}
TIERS = {"claude-opus-4-6": "opus", "claude-sonnet-4-6": "sonnet",
         "claude-haiku-4-5": "haiku", "kimi-for-coding": "kimi"}


def by_hand(model: str, tokens: tuple[int, int, int, int]) -> int:
    """Micro-dollars of one call: tokens x USD/MTok, rounded half-up once."""
    exact = sum((Decimal(n) * Decimal(p) for n, p in zip(tokens, PRICES[model], strict=True)),
                Decimal(0))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_aggregates_equal_the_sum_of_independently_priced_calls(
    redis_client: redis.Redis, namespace: str
) -> None:
    # Given 60 calls over several keys and models, priced by the caller at call time
    cfg = config_with({})
    ledger = Ledger(redis_client, namespace)
    rng = random.Random(5)
    keys = ["monitoring", "code_review", "strategic_decision", "large_context_coding"]
    expected: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    day = ""
    for i in range(60):
        key, model = rng.choice(keys), rng.choice(list(PRICES))
        tokens = tuple(rng.randint(0, 50_000) for _ in range(4))
        usage = Usage(*tokens)
        rec = CallRecord(task_id=f"t{i}", call_id=f"c{i}", model_key=key, model=model,
                         tier=TIERS[model], usage=usage,
                         cost_micros=cost_micros(usage, cfg.price_of(model)),
                         attempt=1 + i % 3, config_version=7)
        day = ledger.settle(rec).day
        row = expected[(key, model, TIERS[model])]
        row["calls"] += 1
        row["micros"] += by_hand(model, (tokens[0], tokens[1], tokens[2], tokens[3]))
        for name, n in zip(("input_tokens", "output_tokens", "cache_read_tokens",
                            "cache_write_tokens"), tokens, strict=True):
            row[name] += n
    # Then every aggregate row equals the independent sums
    rows = ledger.day_aggregates(day).rows
    assert {(r.model_key, r.model, r.tier) for r in rows} == set(expected)
    for r in rows:
        want = expected[(r.model_key, r.model, r.tier)]
        got = {k: getattr(r, k) for k in want}
        assert got == want
    # And the per-call records carry the same costs and their attempt and config version
    calls = ledger.calls(day)
    assert len(calls) == 60
    assert sum(c["cost_micros"] for c in calls) == sum(r["micros"] for r in expected.values())
    assert {c["config_version"] for c in calls} == {7}
    assert [c["attempt"] for c in calls[:3]] == [1, 2, 3]
    assert all(c["outcome"] == "ok" and c["day"] == day and c["ts"] > 0 for c in calls)


def test_a_price_change_between_two_calls_keeps_each_calls_price(
    redis_client: redis.Redis, namespace: str
) -> None:
    # Given a call priced under config A, then Haiku's price doubles in config B
    cheap = config_with({})
    dear = config_with({}, claude_haiku_4_5={"input": 2, "output": 10, "cache_read": "0.2",
                                             "cache_write": "2.5", "batch_discount": 0.5})
    ledger = Ledger(redis_client, namespace)
    usage = Usage(8_000, 1_600)
    first = cost_micros(usage, cheap.price_of("claude-haiku-4-5"))
    second = cost_micros(usage, dear.price_of("claude-haiku-4-5"))
    assert (first, second) == (16_000, 32_000)  # 8k x 1 + 1.6k x 5, then doubled
    for call_id, cost, version in (("before", first, 1), ("after", second, 2)):
        day = ledger.settle(CallRecord(task_id="t", call_id=call_id, model_key="monitoring",
                                       model="claude-haiku-4-5", tier="haiku", usage=usage,
                                       cost_micros=cost, config_version=version)).day
    # Then the ledger holds both prices, not the current one twice
    (row,) = ledger.day_aggregates(day).rows
    assert (row.calls, row.micros) == (2, 48_000)
    assert [(c["config_version"], c["cost_micros"]) for c in ledger.calls(day)] == [
        (1, 16_000), (2, 32_000)]


def test_per_call_records_expire_after_the_keep_days(
    redis_client: redis.Redis, namespace: str
) -> None:
    ledger = Ledger(redis_client, namespace, keep_days=3, aggregate_keep_days=30)
    day = ledger.settle(CallRecord(task_id="t", call_id="c", model_key="lookup",
                                   model="claude-haiku-4-5", tier="haiku", usage=Usage(1, 1),
                                   cost_micros=5)).day
    calls_ttl = redis_client.ttl(f"{keyspace(namespace)}:ledger:{day}:calls")
    agg_ttl = redis_client.ttl(f"{keyspace(namespace)}:ledger:{day}:agg")
    assert 3 * 86400 - 60 <= calls_ttl <= 3 * 86400
    assert 30 * 86400 - 60 <= agg_ttl <= 30 * 86400


def test_a_failed_call_settles_its_real_usage_and_releases_its_hold(
    redis_client: redis.Redis, namespace: str
) -> None:
    cfg = config_with({"daily_usd": 1})
    book, ledger = BudgetBook(redis_client, namespace), Ledger(redis_client, namespace)
    book.reserve(cfg, "lookup", "boom", 50_000)
    settled = ledger.settle(CallRecord(task_id="t", call_id="boom", model_key="lookup",
                                       model="claude-haiku-4-5", tier="haiku", usage=Usage(),
                                       cost_micros=0, outcome=Outcome.error,
                                       error="provider 529 overloaded"))
    (row,) = ledger.day_aggregates(settled.day).rows
    assert (row.calls, row.errors, row.micros) == (1, 1, 0)
    (call,) = ledger.calls(settled.day)
    assert (call["outcome"], call["error"], call["reserved_micros"]) == (
        "error", "provider 529 overloaded", 50_000)
    overall = book.status(cfg)[0]
    assert (overall.spent_micros, overall.reserved_micros) == (0, 0)


def test_flags_deferrals_and_rejections_are_counted_with_their_cost(
    redis_client: redis.Redis, namespace: str
) -> None:
    ledger = Ledger(redis_client, namespace)

    def call(call_id: str, cost: int, flags: set[str]) -> str:
        return ledger.settle(CallRecord(
            task_id="t", call_id=call_id, model_key="classification", model="kimi-for-coding",
            tier="kimi", usage=Usage(1, 1), cost_micros=cost, fallback="fallback" in flags,
            escalation="escalation" in flags, downgrade="downgrade" in flags,
            deferred="deferred" in flags)).day

    call("fb", 100, {"fallback"})
    call("esc", 200, {"escalation", "fallback"})
    call("down", 30, {"downgrade"})
    call("ran-late", 7, {"deferred"})
    refused = BudgetExceededError("model_key:classification", 10, 9, 0, 5,
                                  "2030-01-01T00:00:00Z")
    ledger.record_deferral(refused, task_id="t2", call_id="d1", model_key="classification",
                           model="kimi-for-coding", tier="kimi", config_version=3)
    day = ledger.record_rejection(refused, task_id="t3", call_id="r1",
                                  model_key="classification", model="kimi-for-coding",
                                  tier="kimi")
    (row,) = ledger.day_aggregates(day).rows
    assert (row.calls, row.micros) == (4, 337)
    assert (row.fallback_calls, row.fallback_micros) == (2, 300)
    assert (row.escalation_calls, row.escalation_micros) == (1, 200)
    assert (row.downgrade_calls, row.downgrade_micros) == (1, 30)
    assert (row.deferred_calls, row.deferred_micros) == (1, 7)
    assert (row.deferrals, row.deferrals_needed_micros) == (1, 5)
    assert (row.rejections, row.rejections_needed_micros) == (1, 5)
    deferred = [c for c in ledger.calls(day) if c["outcome"] == "deferred"]
    assert deferred == [deferred[0]] and deferred[0]["budget"] == "model_key:classification"
    assert deferred[0]["resets_at"] == "2030-01-01T00:00:00Z" and deferred[0]["cost_micros"] == 0


def test_bad_records_are_refused_with_the_field_named() -> None:
    base = {"task_id": "t", "call_id": "c", "model_key": "lookup", "model": "m", "tier": "h",
            "usage": Usage()}
    with pytest.raises(ValueError, match="cost_micros"):
        CallRecord(**base, cost_micros=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model_key"):
        CallRecord(**{**base, "model_key": "a|b"}, cost_micros=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record_deferral"):
        CallRecord(**base, cost_micros=1, outcome=Outcome.deferred)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        day_text("yesterday")
