"""Long-context price tiers: validated by path, charged as the provider bills, reserved at
the worst case."""

from __future__ import annotations

import copy
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.config.schema import load_price
from routing.errors import ConfigError
from routing.prices.pricing import Usage, cost_micros, total_cost_micros, worst_case_micros

# Gemini 2.5 Pro's published rates (base; above 200k input tokens).
GEMINI = load_price({
    "input": "1.25", "output": "10", "cache_read": "0.125", "cache_write": "1.25",
    "tiers": [{"above_input_tokens": 200_000, "input": "2.5", "output": "15",
               "cache_read": "0.25", "cache_write": "2.5"}],
})


def with_tiers(tiers: Any) -> dict[str, Any]:
    doc = copy.deepcopy(default_document())
    doc["models"]["gemini-2.5-pro"]["price"]["tiers"] = tiers
    return doc


def problems_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(document)
    return dict(info.value.problems)


TIER = {"above_input_tokens": 200_000, "input": 2.5, "output": 15, "cache_read": 0.25,
        "cache_write": 2.5}


def test_a_valid_tier_loads_and_round_trips_through_the_document() -> None:
    cfg = load_config(with_tiers([TIER]))
    price = cfg.price_of("gemini-2.5-pro")
    assert price.tiers[0].above_input_tokens == 200_000
    assert load_config(cfg.document()).price_of("gemini-2.5-pro") == price


@pytest.mark.parametrize(("tiers", "path", "words"), [
    ([{**TIER, "above_input_tokens": 300_000}, TIER],
     "models.gemini-2.5-pro.price.tiers", "ascending"),
    ([TIER, TIER], "models.gemini-2.5-pro.price.tiers", "ascending"),
    ([{**TIER, "output": -1}], "models.gemini-2.5-pro.price.tiers[0].output", "greater than"),
    ([{k: v for k, v in TIER.items() if k != "cache_read"}],
     "models.gemini-2.5-pro.price.tiers[0].cache_read", "required"),
    ([{**TIER, "batch_discount": 0.5}],
     "models.gemini-2.5-pro.price.tiers[0].batch_discount", "not permitted"),
    ([{**TIER, "above_input_tokens": 0}],
     "models.gemini-2.5-pro.price.tiers[0].above_input_tokens", "greater than 0"),
    ([{**TIER, "above_input_tokens": "200000"}],
     "models.gemini-2.5-pro.price.tiers[0].above_input_tokens", "integer"),
])
def test_a_malformed_tier_is_refused_by_its_path(tiers: Any, path: str, words: str) -> None:
    problems = problems_of(with_tiers(tiers))
    assert path in problems, problems
    assert words in problems[path].lower() or words in problems[path], problems[path]


def test_price_catalog_unresolved_is_refused_with_what_to_write() -> None:
    doc = copy.deepcopy(default_document())
    doc["models"]["gpt-4o"]["price"] = "catalog"
    problems = problems_of(doc)
    assert "config is written" in problems["models.gpt-4o.price"]


def test_the_tier_is_selected_by_total_input_and_applies_to_every_token() -> None:
    # 200,000 total input tokens: not above the threshold, base rates.
    at = Usage(input_tokens=150_000, cache_read_tokens=40_000, cache_write_tokens=10_000,
               output_tokens=1_000)
    assert cost_micros(at, GEMINI) == round(
        150_000 * Decimal("1.25") + 40_000 * Decimal("0.125") + 10_000 * Decimal("1.25")
        + 1_000 * 10)
    # One more cached token: every token of the call at the tier's rates.
    above = Usage(input_tokens=150_000, cache_read_tokens=40_001, cache_write_tokens=10_000,
                  output_tokens=1_000)
    assert cost_micros(above, GEMINI) == round(
        150_000 * Decimal("2.5") + 40_001 * Decimal("0.25") + 10_000 * Decimal("2.5")
        + 1_000 * 15)


def test_a_250k_input_gemini_call_costs_the_long_context_rate() -> None:
    usage = Usage(input_tokens=250_000, output_tokens=2_000)
    assert cost_micros(usage, GEMINI) == 250_000 * 2.5 + 2_000 * 15  # $0.655, not $0.3325


def test_batch_discount_applies_on_top_of_the_tier() -> None:
    price = replace(GEMINI, batch_discount=Decimal("0.5"))
    usage = Usage(input_tokens=250_000, output_tokens=2_000)
    assert cost_micros(usage, price, batch=True) == (250_000 * 2.5 + 2_000 * 15) / 2


def test_aggregates_select_the_tier_by_the_mean_call() -> None:
    # 10 calls of 30k input: 300k in all, yet no call is a long-context one.
    usage = Usage(input_tokens=300_000, output_tokens=10_000)
    assert cost_micros(usage, GEMINI, calls=10) == 300_000 * 1.25 + 10_000 * 10
    assert cost_micros(usage, GEMINI) == 300_000 * 2.5 + 10_000 * 15
    # Groups priced each at its tier, rounded once.
    big, small = Usage(input_tokens=250_001), Usage(input_tokens=3)
    assert total_cost_micros([(big, 1), (small, 1)], GEMINI) == round(
        250_001 * Decimal("2.5") + 3 * Decimal("1.25"))
    with pytest.raises(ValueError, match="calls must be at least 1"):
        cost_micros(usage, GEMINI, calls=0)


def test_the_reservation_reaches_the_tier_when_the_estimate_does() -> None:
    assert worst_case_micros(200_000, 1_000, GEMINI) == 200_000 * 1.25 + 1_000 * 10
    assert worst_case_micros(250_000, 1_000, GEMINI) == 250_000 * 2.5 + 1_000 * 15
    # Never below what the call is then charged, whatever its cache split.
    for usage in (Usage(input_tokens=250_000, output_tokens=1_000),
                  Usage(cache_write_tokens=250_000, output_tokens=1_000)):
        assert cost_micros(usage, GEMINI) <= worst_case_micros(250_000, 1_000, GEMINI)


def test_prices_show_their_tiers() -> None:
    assert GEMINI.shown() == (
        "$1.25/$10.00 per MTok in/out, more above 200,000 input tokens")
