"""The cost report: totals, the naive comparison and savings, recomputed independently."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import redis
from typer.testing import CliRunner

from routing.config.defaults import default_document
from routing.config.store import ConfigStore
from routing.errors import BudgetExceededError
from routing.keys import keyspace
from routing.prices.pricing import Usage, cost_micros
from routing.reports.report import build_report, load_daily_report, store_daily_report
from routing.spend.call_record import CallRecord
from routing.spend.ledger import Ledger
from tests.support.cli import app
from tests.support.spend import CATALOG, by_hand, config_with

CALLS = [  # model key, model, tier, (in, out, cache read, cache write)
    ("monitoring", "claude-haiku-4-5", "haiku", (12_000, 300, 40_000, 0)),
    ("monitoring", "claude-haiku-4-5", "haiku", (9_000, 250, 40_000, 2_000)),
    ("code_review", "claude-sonnet-4-6", "sonnet", (30_000, 2_000, 0, 0)),
    ("code_review", "kimi-for-coding", "kimi", (120_000, 4_000, 0, 0)),
    ("strategic_decision", "claude-opus-4-6", "opus", (5_000, 1_500, 0, 0)),
]


def settle_calls(ledger: Ledger) -> str:
    cfg = config_with({})
    day = ""
    for i, (key, model, tier, tokens) in enumerate(CALLS):
        usage = Usage(*tokens)
        day = ledger.settle(CallRecord(
            task_id=f"t{i}", call_id=f"c{i}", model_key=key, model=model, tier=tier,
            usage=usage, cost_micros=cost_micros(usage, cfg.price_of(model)),
            fallback=i == 3, escalation=i == 4)).day
    return day


def test_totals_naive_comparison_and_savings(redis_client: redis.Redis, namespace: str) -> None:
    # Given five routed calls over four models
    ledger = Ledger(redis_client, namespace)
    day = settle_calls(ledger)
    report = build_report(ledger, config_with({}), day=day)
    # Then the totals are the calls' own costs, recomputed from usage x price
    actual = sum(by_hand(m, tokens, CATALOG) for _, m, _, tokens in CALLS)
    assert report["totals"]["spend_micros"] == actual
    assert report["totals"]["calls"] == 5
    totals = tuple(sum(c[3][i] for c in CALLS) for i in range(4))
    assert (report["totals"]["input_tokens"], report["totals"]["cache_read_tokens"]) == (
        totals[0], totals[2])
    review_kimi = next(r for r in report["rows"] if r["model"] == "kimi-for-coding")
    assert review_kimi["spend_micros"] == by_hand("kimi-for-coding", CALLS[3][3], CATALOG)
    # And the naive comparison prices all the tokens on one model
    naive = {m: by_hand(m, totals, CATALOG) for m in CATALOG}
    dearest = max(naive, key=lambda m: naive[m])
    assert dearest == "claude-opus-4-6"
    top = report["naive"]["most_expensive"]
    assert (top["model"], top["cost_micros"], top["savings_micros"]) == (
        dearest, naive[dearest], naive[dearest] - actual)
    assert abs(top["savings_ratio"] - (naive[dearest] - actual) / naive[dearest]) < 1e-12
    assert abs(top["cost_multiple"] - naive[dearest] / actual) < 1e-12
    orch = report["naive"]["orchestration_default"]
    assert (orch["model"], orch["cost_micros"], orch["savings_micros"]) == (
        "claude-sonnet-4-6", naive["claude-sonnet-4-6"], naive["claude-sonnet-4-6"] - actual)
    # And the events carry their own cost
    ev = report["events"]
    assert (ev["fallbacks"]["count"], ev["fallbacks"]["micros"]) == (
        1, by_hand("kimi-for-coding", CALLS[3][3], CATALOG))
    assert (ev["escalations"]["count"], ev["escalations"]["micros"]) == (
        1, by_hand("claude-opus-4-6", CALLS[4][3], CATALOG))


def test_naive_comparison_uses_current_prices_spend_keeps_call_time_prices(
    redis_client: redis.Redis, namespace: str
) -> None:
    ledger = Ledger(redis_client, namespace)
    day = settle_calls(ledger)
    # Opus gets twice as dear after the calls were made
    dear = {"input": 30, "output": 150, "cache_read": 3, "cache_write": "37.5"}
    report = build_report(ledger, config_with({}, claude_opus_4_6=dear), day=day)
    actual = sum(by_hand(m, tokens, CATALOG) for _, m, _, tokens in CALLS)
    assert report["totals"]["spend_micros"] == actual
    totals = tuple(sum(c[3][i] for c in CALLS) for i in range(4))
    new_catalog = {**CATALOG, "claude-opus-4-6": ("30", "150", "3", "37.5")}
    assert report["naive"]["most_expensive"]["cost_micros"] == by_hand(
        "claude-opus-4-6", totals, new_catalog)
    assert "current catalog prices" in report["pricing"]


def test_days_trend_and_deferrals(redis_client: redis.Redis, namespace: str) -> None:
    ledger = Ledger(redis_client, namespace)
    day = settle_calls(ledger)
    refused = BudgetExceededError("model_key:monitoring", 1, 1, 0, 900, "2030-01-01T00:00:00Z")
    ledger.record_deferral(refused, task_id="t9", call_id="d9", model_key="monitoring",
                           model="claude-haiku-4-5", tier="haiku")
    # a day two days back, written as the settle script writes it
    earlier = (date.fromisoformat(day) - timedelta(days=2)).isoformat()
    redis_client.hset(f"{keyspace(namespace)}:ledger:{earlier}:agg", mapping={
        "lookup|claude-haiku-4-5|haiku|calls": 2, "lookup|claude-haiku-4-5|haiku|micros": 77})
    report = build_report(ledger, config_with({}), day=day, days=3)
    assert report["days"] == [earlier, (date.fromisoformat(day) - timedelta(days=1)).isoformat(),
                              day]
    assert [d["calls"] for d in report["trend"]] == [2, 0, 5]
    assert report["trend"][0]["spend_micros"] == 77
    assert report["trend"][2]["deferrals"] == 1
    assert report["events"]["deferrals"]["count"] == 1
    assert report["events"]["deferrals"]["needed_micros"] == 900
    assert report["totals"]["calls"] == 7


def test_store_daily_report(redis_client: redis.Redis, namespace: str) -> None:
    ledger = Ledger(redis_client, namespace)
    day = settle_calls(ledger)
    line = store_daily_report(ledger, config_with({}), day=day)
    stored = load_daily_report(ledger, day)
    assert stored is not None and stored["totals"]["calls"] == 5
    assert line.startswith(f"cost {day}: 5 calls, $")
    assert "claude-opus-4-6" in line and "saved" in line and "\n" not in line
    assert redis_client.ttl(f"{keyspace(namespace)}:ledger:{day}:report") > 300 * 86400


def test_cost_report_cli_json(
    env: dict[str, str], redis_client: redis.Redis, namespace: str
) -> None:
    ConfigStore(redis_client, namespace).init(default_document(), author="test")
    day = settle_calls(Ledger(redis_client, namespace))
    result = CliRunner().invoke(app, ["cost", "report", "--day", day, "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["day"] == day and report["config_version"] == 1
    assert report["totals"]["spend_micros"] == sum(
        by_hand(m, tokens, CATALOG) for _, m, _, tokens in CALLS)
    text = CliRunner().invoke(app, ["cost", "report", "--day", day, "--days", "2"])
    assert text.exit_code == 0 and "most expensive model (claude-opus-4-6)" in text.stdout
    bad = CliRunner().invoke(app, ["cost", "report", "--day", "25/11/2026"])
    assert bad.exit_code == 2 and "--day must be YYYY-MM-DD" in bad.stderr


def test_an_empty_day_names_the_catalogs_most_expensive_model(
    env: dict[str, str], redis_client: redis.Redis, namespace: str
) -> None:
    # Given a day without a single call
    ConfigStore(redis_client, namespace).init(default_document(), author="test")
    ledger = Ledger(redis_client, namespace)
    report = build_report(ledger, config_with({}), day="2030-01-01")
    assert report["totals"]["calls"] == 0
    # Then "most expensive" is still the dearest model by list price, not the cheapest
    dearest = max(CATALOG, key=lambda m: Decimal(CATALOG[m][0]) + Decimal(CATALOG[m][1]))
    cheapest = min(CATALOG, key=lambda m: Decimal(CATALOG[m][0]) + Decimal(CATALOG[m][1]))
    top = report["naive"]["most_expensive"]
    assert (top["model"], top["cost_micros"], top["savings_ratio"]) == (dearest, 0, None)
    text = CliRunner().invoke(app, ["cost", "report", "--day", "2030-01-01"])
    assert text.exit_code == 0, text.stderr
    assert (f"most expensive model ({dearest}): no calls in this period, nothing to compare"
            in text.stdout)
    assert cheapest not in text.stdout
    # A price change can make another model the dearest, calls or not
    dearer = {"input": 20, "output": 100, "cache_read": 2, "cache_write": 25}
    changed = build_report(ledger, config_with({}, gpt_4o=dearer), day="2030-01-01")
    assert changed["naive"]["most_expensive"]["model"] == "gpt-4o"


def test_the_report_shows_batch_spend_and_the_saving_against_direct_calls(
    env: dict[str, str], redis_client: redis.Redis, namespace: str
) -> None:
    config = ConfigStore(redis_client, namespace).init(default_document(), author="test")
    ledger = Ledger(redis_client, namespace)
    price = config.price_of("claude-haiku-4-5")
    usage = Usage(8_000, 1_600)  # 8,000 + 8,000 micros direct; half in a batch
    batched, direct = cost_micros(usage, price, batch=True), cost_micros(usage, price)
    assert (batched, direct) == (8_000, 16_000)
    day = ""
    for n in range(3):
        day = ledger.settle(CallRecord(f"b{n}", f"b{n}:0:batch", "content_curation",
                                       "claude-haiku-4-5", "haiku", usage, batched,
                                       batch_id="msgbatch_x", direct_micros=direct)).day
    ledger.settle(CallRecord("d", "d:0:x", "lookup", "claude-haiku-4-5", "haiku", usage, direct))
    report = build_report(ledger, config, day=day)
    # Then batch spend is in the totals, at the batch rate, and reported apart with its saving
    assert report["totals"]["spend_micros"] == 3 * batched + direct
    assert report["events"]["batches"] == {
        "count": 3, "micros": 24_000, "usd": 0.024, "direct_micros": 48_000,
        "direct_usd": 0.048, "saved_micros": 24_000, "saved_usd": 0.024}
    text = CliRunner().invoke(app, ["cost", "report", "--day", day])
    assert text.exit_code == 0, text.stderr
    assert ("provider batches: 3 calls, $0.024000 at the batch rate ($0.048000 at direct "
            "prices): saved $0.024000") in text.stdout
    # a day without batches says nothing of them
    other = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    quiet = CliRunner().invoke(app, ["cost", "report", "--day", other])
    assert quiet.exit_code == 0 and "provider batches" not in quiet.stdout
