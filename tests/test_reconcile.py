"""The reconciliation's comparison as pure functions: amounts, tolerance, model ids,
finality, and the cause of each difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from routing.config.defaults import default_config
from routing.prices.pricing import Usage, cost_micros
from routing.spend.aggregates import Row
from routing.spend.reconcile import (
    ReportedCost,
    ReportedUsage,
    Tolerance,
    base_model,
    is_final,
    micros_from_cents,
    micros_from_usd,
    reconcile,
)

DAY = "2026-11-30"


def test_amounts_cents_as_strings_and_dollars_as_numbers() -> None:
    assert micros_from_cents("123.4567") == 1_234_567
    assert micros_from_cents("0.0001") == 1
    assert micros_from_usd(0.1) == 100_000  # not the binary float's 99999.99...
    assert micros_from_usd(12) == 12_000_000


def test_tolerance_is_relative_or_an_amount_of_money() -> None:
    t = Tolerance(relative=Decimal("0.01"), micros=10_000)
    assert t.within(1000, 1010, money=False) and not t.within(1000, 1011, money=False)
    assert t.within(5_000, 14_000, money=True) and not t.within(5_000, 16_000, money=True)


def test_dated_snapshots_and_finality() -> None:
    assert base_model("gpt-4o-2024-08-06") == "gpt-4o"
    assert base_model("claude-3-5-haiku-20241022") == "claude-3-5-haiku"
    assert base_model("gpt-4o-mini") == "gpt-4o-mini"
    end = datetime(2026, 12, 1, tzinfo=UTC)
    assert not is_final(DAY, end + timedelta(hours=23), timedelta(hours=24))
    assert is_final(DAY, end + timedelta(hours=24), timedelta(hours=24))


def _row(model: str, usage: Usage, micros: int) -> Row:
    return Row("lookup", model, "haiku", calls=1, input_tokens=usage.input_tokens,
               output_tokens=usage.output_tokens, micros=micros)


def test_each_check_names_its_likely_cause() -> None:
    config = default_config()
    usage = Usage(input_tokens=2_000_000, output_tokens=400_000)
    fair = cost_micros(usage, config.price_of("claude-haiku-4-5"))
    tol = Tolerance()

    def run(provider_usage: Usage, billed: int, ledger_micros: int) -> dict[str, str]:
        result = reconcile(
            "anthropic", [DAY], config,
            usage=[ReportedUsage(DAY, "claude-haiku-4-5", provider_usage)],
            costs=[ReportedCost(DAY, "claude-haiku-4-5", billed)],
            ledger={DAY: [_row("claude-haiku-4-5", usage, ledger_micros)]}, tolerance=tol)
        return {f.check: f.cause for _, f in result.gaps}

    assert run(usage, fair, fair) == {}
    drift = run(usage, fair * 2, fair)
    assert set(drift) == {"price", "spend"} and "drifted" in drift["price"]
    assert "follows" in drift["spend"]
    unseen = run(Usage(input_tokens=3_000_000, output_tokens=400_000),
                 cost_micros(Usage(input_tokens=3_000_000, output_tokens=400_000),
                             config.price_of("claude-haiku-4-5")), fair)
    assert set(unseen) == {"tokens", "spend"} and "never saw" in unseen["tokens"]
    stale = run(usage, fair, fair // 2)
    assert set(stale) == {"spend"} and "prices changed" in stale["spend"]


def test_only_the_providers_models_and_unattributed_cost() -> None:
    config = default_config()
    gpt = Usage(input_tokens=10, output_tokens=10)
    result = reconcile(
        "anthropic", [DAY], config, usage=[],
        costs=[ReportedCost(DAY, None, 50_000)],
        ledger={DAY: [_row("gpt-4o", gpt, 10)]}, tolerance=Tolerance())
    ((line, finding),) = result.gaps
    assert line.model == "(no model)" and "not attributed" in finding.cause
