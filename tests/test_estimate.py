"""Cost estimates come from the config's prices (never a constant); pricing properties."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.config.price import Price
from routing.config.store import ConfigStore
from routing.errors import PromptTooLargeError
from routing.planning.estimate import estimate
from routing.prices.pricing import Usage, cost_micros
from tests.support.cli import app
from tests.support.properties import bounded

RUNS = 48  # the seed's monitoring cron: every 30 minutes
IN, OUT = 2_000, 300


def daily_micros_by_hand(doc: dict[str, object], model: str) -> Decimal:
    price = doc["models"][model]["price"]  # type: ignore[index]
    return RUNS * (IN * Decimal(str(price["input"])) + OUT * Decimal(str(price["output"])))


def test_seed_example_opus_vs_haiku_comes_from_the_prices() -> None:
    doc = default_document()
    result = estimate(load_config(doc), "monitoring", runs_per_day=RUNS,
                      input_tokens=IN, output_tokens=OUT)
    opus = daily_micros_by_hand(doc, "claude-opus-4-6")
    haiku = daily_micros_by_hand(doc, "claude-haiku-4-5")
    assert result.by_model("claude-opus-4-6").daily_micros == opus
    assert result.by_model("claude-haiku-4-5").daily_micros == haiku
    opus_ratio = result.by_model("claude-opus-4-6").ratio_to_cheapest
    haiku_ratio = result.by_model("claude-haiku-4-5").ratio_to_cheapest
    assert opus_ratio is not None and haiku_ratio is not None
    assert opus_ratio / haiku_ratio == pytest.approx(float(opus / haiku))
    assert float(opus / haiku) == pytest.approx(5.0)  # not the seed's "~167x"
    assert result.routed_model == "claude-haiku-4-5"
    assert [m.model for m in result.models if m.routed] == ["claude-haiku-4-5"]
    assert result.models[0].ratio_to_cheapest == 1.0


def test_ratio_follows_a_price_change() -> None:
    doc = copy.deepcopy(default_document())
    doc["models"]["claude-haiku-4-5"]["price"].update(input=2, output=10)
    result = estimate(load_config(doc), "monitoring", runs_per_day=RUNS,
                      input_tokens=IN, output_tokens=OUT)
    ratio = result.by_model("claude-opus-4-6").daily_micros / result.by_model(
        "claude-haiku-4-5").daily_micros
    assert ratio == pytest.approx(2.5)


def test_negative_counts_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="runs_per_day"):
        estimate(load_config(default_document()), "monitoring", runs_per_day=-1,
                 input_tokens=1, output_tokens=1)


def test_cost_estimate_cli_json(env: dict[str, str], redis_url: str, namespace: str) -> None:
    ConfigStore.from_url(redis_url, namespace).init(author="t")
    result = CliRunner().invoke(app, [
        "cost", "estimate", "monitoring", "--runs-per-day", str(RUNS),
        "--input-tokens", str(IN), "--output-tokens", str(OUT), "--json",
    ])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    doc = default_document()
    assert out["per_model"]["claude-opus-4-6"] == pytest.approx(
        float(daily_micros_by_hand(doc, "claude-opus-4-6")) / 1e6)
    assert out["ratio_to_cheapest"]["claude-opus-4-6"] / out["ratio_to_cheapest"][
        "claude-haiku-4-5"] == pytest.approx(5.0)


PRICE = Price(input=Decimal("3"), output=Decimal("15"), cache_read=Decimal("0.3"),
              cache_write=Decimal("3.75"), batch_discount=Decimal("0.5"))
counts = st.integers(min_value=0, max_value=10**7)


@given(counts, counts, counts, counts)
def test_cost_is_additive_over_usage_in_whole_micros(a: int, b: int, c: int, d: int) -> None:
    # Integer token counts at these prices cost whole or tenth micros; halves round up.
    whole = cost_micros(Usage(a, b, c, d), PRICE)
    parts = (cost_micros(Usage(input_tokens=a), PRICE) + cost_micros(Usage(output_tokens=b), PRICE)
             + cost_micros(Usage(cache_read_tokens=c), PRICE)
             + cost_micros(Usage(cache_write_tokens=d), PRICE))
    assert abs(whole - parts) <= 2


@given(counts, counts, st.integers(min_value=0, max_value=1000))
def test_cost_is_monotone_in_tokens(a: int, b: int, extra: int) -> None:
    base = cost_micros(Usage(a, b), PRICE)
    assert cost_micros(Usage(a + extra, b), PRICE) >= base
    assert cost_micros(Usage(a, b + extra), PRICE) >= base
    assert cost_micros(Usage(a, b), PRICE, batch=True) <= base


SHIPPED = load_config(default_document())


@bounded(200)
@given(st.integers(0, 2_000_000), st.integers(0, 100_000))
def test_only_models_that_can_hold_a_run_are_ranked(input_tokens: int, output_tokens: int) -> None:
    # Any run size: a ranked model holds the run, a left-out one cannot (and says so),
    # and together they are the catalog; none holds it: refused
    cfg = SHIPPED
    run = input_tokens + output_tokens
    try:
        result = estimate(cfg, "large_context_coding", runs_per_day=1,
                          input_tokens=input_tokens, output_tokens=output_tokens)
    except PromptTooLargeError:
        assert all(run > m.context_window for m in cfg.models.values())
        return
    ranked = {m.model for m in result.models}
    excluded = dict(result.excluded)
    assert ranked | set(excluded) == set(cfg.models) and not ranked & set(excluded)
    assert all(run <= cfg.models[m].context_window for m in ranked)
    assert all(run > cfg.models[m].context_window and f"{run:,}" in why
               for m, why in excluded.items())
    assert result.cheapest in ranked and result.routed_model in ranked | set(excluded)
    assert (result.as_dict()["routed_daily_usd"] is None) == (result.routed_model in excluded)


def test_cost_estimate_leaves_out_models_that_cannot_hold_the_input(
    env: dict[str, str], redis_url: str, namespace: str
) -> None:
    ConfigStore.from_url(redis_url, namespace).init(author="t")
    args = ["cost", "estimate", "large_context_coding", "--runs-per-day", "1",
            "--input-tokens", "300000", "--output-tokens", "1000"]
    out = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    # Only Gemini 2.5 Pro (1M tokens) holds 301,000 tokens: Kimi (262,144) is no cheapest
    assert out["cheapest"] == "gemini-2.5-pro" and list(out["per_model"]) == ["gemini-2.5-pro"]
    assert out["excluded"]["kimi-for-coding"] == (
        "context window 262,144 tokens < 301,000 (300,000 in + 1,000 out)")
    text = CliRunner().invoke(app, args).stdout
    assert "left out: kimi-for-coding: cannot hold a run" in text
    assert "kimi-for-coding  " not in text.split("left out")[0]
