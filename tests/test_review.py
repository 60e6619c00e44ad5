"""The routing review's maths on known counts: Wilson bounds, savings, the three rules.

Rows are built by hand (what the ledger's day aggregates would hold); every expected
figure is worked out in the comments from the shipped prices (per MTok): Haiku 1 in /
5 out, Kimi 0.30 / 1.50, Sonnet 4.6 3 / 15, Gemini 2.5 Pro 1.25 / 10.
"""

from __future__ import annotations

from typing import Any

import pytest

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.config.models import RoutingConfig
from routing.evidence.per_key import key_evidence, wilson
from routing.evidence.review import change_for, recommend
from routing.spend.aggregates import AggregateRow, TrialRow

DAYS = 30


def config(**classification: Any) -> RoutingConfig:
    doc = default_document()
    doc["model_keys"]["classification"].update(classification)
    return load_config(doc)


def haiku_row(calls: int = 1000, escalations: int = 0) -> AggregateRow:
    # 1,000 input and 200 output tokens a call
    return AggregateRow("classification", "claude-haiku-4-5", "haiku", calls=calls,
                        successes=calls - escalations, invalid=escalations,
                        escalations_out=escalations, input_tokens=1000 * calls,
                        output_tokens=200 * calls, micros=2000 * calls, tasks=calls)


def trial_row(candidate: str, samples: int, agree: int, **more: int) -> TrialRow:
    tier = {"kimi-for-coding": "kimi", "gemini-2.5-pro": "sonnet"}[candidate]
    return TrialRow("classification", candidate, tier, samples=samples, agree=agree,
                    disagree=samples - agree, calls=samples, **more)


def rec(cfg: RoutingConfig, prod: list[AggregateRow], trials: list[TrialRow]) -> dict[str, Any]:
    entry = key_evidence(cfg, DAYS, prod, trials)["classification"]
    return recommend(cfg, "classification", entry)


TRIAL = {"candidate": "kimi-for-coding", "sample": 0.5, "daily_budget_usd": 1}


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (90, 100, 0.8256, 0.9448),  # the textbook example
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (396, 400, 0.9746, 0.9961),
])
def test_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    got = wilson(k, n)
    assert got == (pytest.approx(low, abs=5e-4), pytest.approx(high, abs=5e-4))


def test_no_samples_is_the_whole_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


def test_switch_down_when_the_lower_bound_clears_min_agreement_on_enough_samples() -> None:
    cfg = config(trials=[TRIAL])
    out = rec(cfg, [haiku_row()], [trial_row("kimi-for-coding", 400, 396)])
    assert (out["action"], out["to"]) == ("switch", "kimi-for-coding")
    # a month of these tokens: Haiku 1e6 x 1 + 2e5 x 5 = 2,000,000 micro-dollars;
    # Kimi 1e6 x 0.30 + 2e5 x 1.50 = 600,000: $1.40 saved per 30 days
    assert out["monthly_saving_usd"] == 1.40
    assert "0.975" in out["reason"] and "400 samples" in out["reason"]


def test_the_saving_reprices_only_the_calls_of_the_keys_own_model() -> None:
    # Besides the 1,000 Haiku calls of the switch test ($1.40 a month saved on Kimi):
    # 100 calls that escalated to Sonnet 4.6 and 50 that fell back to Gemini, with big
    # inputs (5,000 in, 1,000 out each). They stay where they are after a switch (an
    # escalation still escalates, a fallback still falls back): the saving is $1.40.
    cfg = config(trials=[TRIAL])
    escalated = AggregateRow("classification", "claude-sonnet-4-6", "sonnet", calls=100,
                             successes=100, input_tokens=500_000, output_tokens=100_000,
                             micros=3_000_000, tasks=100)
    fell_back = AggregateRow("classification", "gemini-2.5-pro", "sonnet", calls=50,
                             successes=50, input_tokens=250_000, output_tokens=50_000,
                             micros=812_500, tasks=50)
    entry = key_evidence(cfg, DAYS, [haiku_row(), escalated, fell_back],
                         [trial_row("kimi-for-coding", 400, 396)])["classification"]
    assert entry["model_usage"]["input_tokens"] == 1_000_000
    assert entry["usage"]["input_tokens"] == 1_750_000  # the key's volume, as reported
    out = recommend(cfg, "classification", entry)
    assert (out["action"], out["monthly_saving_usd"]) == ("switch", 1.40)


def test_move_up_prices_a_call_on_the_keys_own_model() -> None:
    # The 800 escalations of the move-up test, with their Sonnet calls in the window too,
    # each of those with twice the tokens (the escalation adds the first answer): a call
    # on Haiku still has 1,000 + 200 tokens, so the figures are that test's (averaging
    # the tokens over both models, 1,444 + 289 a call, would give $1.16 a month)
    sonnet = AggregateRow("classification", "claude-sonnet-4-6", "sonnet", calls=800,
                          successes=800, input_tokens=1_600_000, output_tokens=320_000,
                          micros=9_600_000, tasks=800)
    out = rec(config(), [haiku_row(escalations=800), sonnet], [])
    assert (out["action"], out["monthly_saving_usd"]) == ("move_up", 0.80)
    assert "2000 + 0.800 x 6000" in out["reason"]


def test_every_candidate_has_its_monthly_saving_in_the_review_and_its_table() -> None:
    from cli.review_view import review_lines

    # Kimi saves $1.40 a month (the switch test); Gemini 2.5 Pro costs more:
    # 1e6 x 1.25 + 2e5 x 10 = 3,250,000 against Haiku's 2,000,000: -$1.25
    cfg = config(trials=[TRIAL, {**TRIAL, "candidate": "gemini-2.5-pro"}])
    entry = key_evidence(cfg, DAYS, [haiku_row()],
                         [trial_row("kimi-for-coding", 400, 396),
                          trial_row("gemini-2.5-pro", 20, 14)])["classification"]
    savings = {t["candidate"]: (t["monthly_saving_micros"], t["monthly_saving_usd"])
               for t in entry["trials"]}
    assert savings == {"kimi-for-coding": (1_400_000, 1.40),
                       "gemini-2.5-pro": (-1_250_000, -1.25)}
    entry["recommendation"] = recommend(cfg, "classification", entry)
    result = {"from": "2026-11-01", "to": "2026-11-30", "days": DAYS, "config_version": 1,
              "model_keys": {"classification": entry}, "summary": ""}
    text = "\n".join(review_lines(result, only_trials=True))
    rows = {line.split()[1]: line.split() for line in text.splitlines()
            if line.startswith("classification ")}
    assert rows["kimi-for-coding"][-2:] == ["1.40", "0.0000"]
    assert rows["gemini-2.5-pro"][-2:] == ["-1.25", "0.0000"]


@pytest.mark.parametrize(("samples", "agree", "why"), [
    (150, 150, "150 samples, fewer than 200"),
    (400, 360, "agreement too low: agreement 0.900, interval [0.867, 0.926] is all below"),
    (400, 378, "agreement 0.945, interval [0.918, 0.963] below 0.95"),
    (20, 14, "agreement too low"),  # 0.70 [0.481, 0.855]: no number of samples will do
])
def test_keep_says_why(samples: int, agree: int, why: str) -> None:
    cfg = config(trials=[TRIAL])
    out = rec(cfg, [haiku_row()], [trial_row("kimi-for-coding", samples, agree)])
    assert out["action"] == "keep" and why in out["reason"]


def test_a_candidate_that_agrees_but_costs_more_is_not_recommended() -> None:
    cfg = config(trials=[{**TRIAL, "candidate": "gemini-2.5-pro"}])
    out = rec(cfg, [haiku_row()], [trial_row("gemini-2.5-pro", 500, 500)])
    assert out["action"] == "keep" and "costs more" in out["reason"]


def test_min_agreement_and_min_samples_are_the_keys_own() -> None:
    cfg = config(trials=[TRIAL], min_samples=50, min_agreement=0.8)
    out = rec(cfg, [haiku_row()], [trial_row("kimi-for-coding", 60, 57)])
    assert out["action"] == "switch"


def test_move_up_when_escalating_costs_more_than_starting_higher() -> None:
    # Per call: Haiku 1000 x 1 + 200 x 5 = 2,000; Sonnet 4.6 1000 x 3 + 200 x 15 = 6,000.
    # With 80% escalating, 2,000 + 0.8 x 6,000 = 6,800 > 6,000: start on Sonnet. Saving
    # (6,800 - 6,000) x 1,000 calls over 30 days = 800,000 micro-dollars a month.
    cfg = config()
    out = rec(cfg, [haiku_row(escalations=800)], [])
    assert (out["action"], out["to"]) == ("move_up", "claude-sonnet-4-6")
    assert out["monthly_saving_usd"] == 0.80
    # 60%: 2,000 + 3,600 = 5,600 < 6,000: keep
    assert rec(cfg, [haiku_row(escalations=600)], [])["action"] == "keep"


def test_no_candidate_is_a_reason_to_keep() -> None:
    out = rec(config(), [haiku_row()], [])
    assert out["action"] == "keep" and "no candidate" in out["reason"]


def test_the_switch_change_keeps_the_old_model_next_in_line_and_ends_the_trial() -> None:
    cfg = config(trials=[TRIAL, {**TRIAL, "candidate": "gemini-2.5-pro"}])
    doc = change_for(cfg, "classification", {"action": "switch", "to": "kimi-for-coding"})
    spec = load_config(doc).model_keys["classification"]
    assert spec.model == "kimi-for-coding"
    assert spec.fallbacks[0] == "claude-haiku-4-5"
    assert [t.candidate for t in spec.trials] == ["gemini-2.5-pro"]


def test_the_move_up_change_escalates_from_the_next_level() -> None:
    cfg = config()
    doc = change_for(cfg, "classification", {"action": "move_up", "to": "claude-sonnet-4-6"})
    spec = load_config(doc).model_keys["classification"]
    assert spec.model == "claude-sonnet-4-6"
    assert spec.escalate_to == cfg.model_keys["orchestration"].escalate_to


def test_evidence_reports_rates_percentiles_and_cost_per_success() -> None:
    row = haiku_row(calls=100, escalations=10)
    row.fallbacks_out = 5
    row.latency[5] = 100  # all between 500 and 750 ms
    entry = key_evidence(config(), DAYS, [row], [])["classification"]
    (model,) = entry["models"]
    assert entry["escalation_rate"] == 0.1 and entry["fallback_rate"] == 0.05
    assert 500 <= model["latency_ms"]["p50"] <= 750
    assert model["cost_per_success_micros"] == round(2000 * 100 / 90)


def test_the_review_shows_the_price_drift_and_what_it_did_to_the_spend() -> None:
    from cli.review_view import prices_line
    from routing.evidence.price_drift import price_drift

    doc = default_document()
    doc["models"]["claude-opus-4-6"]["price"].update(input=15, output=75, cache_read=1.5,
                                                     cache_write=18.75)
    cfg = load_config(doc)
    # 100 Opus calls of 1,000 in / 200 out recorded at the old price: 1000 x 15 + 200 x 75
    # = 30,000 a call; at the catalog's 5 / 25: 10,000. Haiku agrees with the catalog.
    opus = AggregateRow("strategic_decision", "claude-opus-4-6", "opus", calls=100,
                        successes=100, input_tokens=100_000, output_tokens=20_000,
                        micros=3_000_000, tasks=100)
    out = price_drift(cfg, [opus, haiku_row()])
    assert (out["agrees"], out["drifted"], out["not_in_catalog"]) == (
        False, ["claude-opus-4-6"], ["kimi-for-coding"])
    spend = {s["model"]: (s["recorded_micros"], s["at_catalog_micros"]) for s in out["spend"]}
    assert spend == {"claude-opus-4-6": (3_000_000, 1_000_000),
                     "claude-haiku-4-5": (2_000_000, 2_000_000)}
    assert out["difference_micros"] == 2_000_000
    line = prices_line(out)
    assert "drift from the catalog" in line and "claude-opus-4-6" in line
    assert "$5.0000 at config prices, $3.0000 at catalog prices" in line
    assert "drift" not in prices_line(price_drift(config(), [haiku_row()]))
