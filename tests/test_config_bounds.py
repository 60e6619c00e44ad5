"""Every field of the routing config has a strict type and a sane bound, refused by path:
no coercion (`max_tokens: true` or `"512"`), every number finite, budgets' window within
what Redis takes, prices under a cap, a key's max_tokens within its model's output limit.
USD amounts (prices, budgets) may be numbers or numeric strings: the stored document
itself writes them as strings."""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.errors import ConfigError
from tests.support.cli import as_json, run


def _set(doc: Any, path: str, value: Any) -> None:
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("/"))
    for part in parents:
        doc = doc[part]
    doc[last] = value


def problems_after(path: str, value: Any) -> dict[str, str]:
    doc = copy.deepcopy(default_document())
    _set(doc, path, value)
    with pytest.raises(ConfigError) as info:
        load_config(doc)
    return dict(info.value.problems)


def accepts(path: str, value: Any) -> Any:
    doc = copy.deepcopy(default_document())
    _set(doc, path, value)
    return load_config(doc)


REFUSED = [
    # (path in the document, value, dotted path named, what the reason says)
    ("budgets/window_seconds", 10**20, "budgets.window_seconds",
     "less than or equal to 31622400"),
    ("budgets/window_seconds", 366 * 86_400 + 1, "budgets.window_seconds",
     "less than or equal to 31622400"),
    ("budgets/window_seconds", "86400", "budgets.window_seconds", "valid integer"),
    ("model_keys/lookup/max_tokens", 10**30, "model_keys.lookup.max_tokens",
     "less than or equal to 1000000"),
    ("model_keys/lookup/max_tokens", True, "model_keys.lookup.max_tokens", "valid integer"),
    ("model_keys/lookup/max_tokens", "512", "model_keys.lookup.max_tokens", "valid integer"),
    ("model_keys/lookup/max_tokens", 512.0, "model_keys.lookup.max_tokens", "valid integer"),
    ("model_keys/lookup/max_tokens", 64_001, "model_keys.lookup.max_tokens",
     "64001 is above the output limit of 'claude-haiku-4-5' "
     "(models.claude-haiku-4-5.max_output_tokens: 64000)"),
    ("models/gpt-4o/price/input", 1e20, "models.gpt-4o.price.input",
     "1e+20 is above the cap of 10,000 USD per MTok; prices are USD per million tokens"),
    ("models/gpt-4o/price/output", "10000.01", "models.gpt-4o.price.output",
     "10000.01 is above the cap of 10,000 USD per MTok"),
    ("models/gpt-4o/price/input", math.inf, "models.gpt-4o.price.input", "finite number"),
    ("models/gpt-4o/price/input", "NaN", "models.gpt-4o.price.input", "a number of USD"),
    ("models/gpt-4o/price/input", math.nan, "models.gpt-4o.price.input", "finite number"),
    ("models/gpt-4o/price/input", True, "models.gpt-4o.price.input", "a number of USD"),
    ("models/gpt-4o/price/input", "cheap", "models.gpt-4o.price.input", "a number of USD"),
    ("models/gpt-4o/price/input", "1_0", "models.gpt-4o.price.input", "a number of USD"),
    ("models/gpt-4o/price/input", " 5 ", "models.gpt-4o.price.input", "a number of USD"),
    ("models/gpt-4o/price/batch_discount", "1.5", "models.gpt-4o.price.batch_discount",
     "less than or equal to 1"),
    ("models/gpt-4o/provider_model", b"gpt-4o", "models.gpt-4o.provider_model",
     "valid string"),
    ("models/gpt-4o/provider_model", 4, "models.gpt-4o.provider_model", "valid string"),
    ("models/gpt-4o/context_window", 10**9, "models.gpt-4o.context_window",
     "less than or equal to 10000000"),
    ("models/gpt-4o/context_window", "128000", "models.gpt-4o.context_window",
     "valid integer"),
    ("models/gpt-4o/max_output_tokens", 0, "models.gpt-4o.max_output_tokens",
     "greater than or equal to 1"),
    ("models/gpt-4o/max_output_tokens", 10**7, "models.gpt-4o.max_output_tokens",
     "less than or equal to 1000000"),
    ("models/claude-haiku-4-5/max_output_tokens", 511, "model_keys.monitoring.max_tokens",
     "512 is above the output limit of 'claude-haiku-4-5'"),
    # A window smaller than the model's own output limit (every Haiku key would move to
    # a dearer fallback by the context window rule): refused, naming both and the fix
    ("models/claude-haiku-4-5/context_window", 100, "models.claude-haiku-4-5.context_window",
     "100 is smaller than its max_output_tokens 64000 (the window holds the input and the "
     "reply); raise it or lower max_output_tokens"),
    ("models/gpt-4o/context_window", 16_383, "models.gpt-4o.context_window",
     "16383 is smaller than its max_output_tokens 16384"),
    # ... and a key whose max_tokens leaves no room for any input in its model's window
    ("models/claude-haiku-4-5/context_window", 1024, "model_keys.data_extraction.max_tokens",
     "1024 leaves no room for the input in the context window of 'claude-haiku-4-5' "
     "(models.claude-haiku-4-5.context_window: 1024): every call would go to a fallback; "
     "lower it below the window, or raise the model's context_window"),
    ("tiers/opus/task_timeout_seconds", math.inf, "tiers.opus.task_timeout_seconds",
     "finite number"),
    ("tiers/opus/task_timeout_seconds", math.nan, "tiers.opus.task_timeout_seconds",
     "finite number"),
    ("tiers/opus/task_timeout_seconds", 86_401, "tiers.opus.task_timeout_seconds",
     "less than or equal to 86400"),
    ("tiers/opus/task_timeout_seconds", "300", "tiers.opus.task_timeout_seconds",
     "valid number"),
    ("tiers/opus/concurrency", 10**6, "tiers.opus.concurrency", "less than or equal to 1000"),
    ("tiers/opus/concurrency", True, "tiers.opus.concurrency", "valid integer"),
    ("tiers/haiku/dispatch", "yes", "tiers.haiku.dispatch", "valid boolean"),
    ("tiers/haiku/dispatch", 1, "tiers.haiku.dispatch", "valid boolean"),
    ("model_keys/monitoring/prompt_cache", "true", "model_keys.monitoring.prompt_cache",
     "valid boolean"),
    ("model_keys/monitoring/description", "bad \ud800", "model_keys.monitoring.description",
     "lone surrogate (U+D800) at character 4"),
    ("model_keys/monitoring/description", "x" * 2001, "model_keys.monitoring.description",
     "at most 2000 characters"),
    ("model_keys/monitoring/model", "claude-haiku-4-5\ud800",
     "model_keys.monitoring.model", "lone surrogate"),
    ("budgets/daily_usd", "Infinity", "budgets.daily_usd", "a number of USD"),
    ("budgets/daily_usd", -math.inf, "budgets.daily_usd", "finite number"),
    ("budgets/daily_usd", 10**7, "budgets.daily_usd",
     "10000000 is above the cap of 1,000,000 USD a day"),
    ("budgets/daily_usd", False, "budgets.daily_usd", "a number of USD"),
    ("rules/0/min_input_tokens", "50000", "rules[0].min_input_tokens", "valid integer"),
    ("version", "3", "version", "valid integer"),
]


@pytest.mark.parametrize(("where", "value", "path", "says"), REFUSED,
                         ids=[f"{r[0]}={r[1]!r}"[:60] for r in REFUSED])
def test_a_value_out_of_type_or_bounds_is_refused_by_path(
    where: str, value: Any, path: str, says: str
) -> None:
    problems = problems_after(where, value)
    assert says in problems.get(path, ""), problems


def test_the_same_values_within_bounds_are_accepted() -> None:
    assert accepts("budgets/window_seconds", 366 * 86_400).budgets.window_seconds == 31_622_400
    assert accepts("model_keys/lookup/max_tokens", 64_000).model_keys["lookup"].max_tokens \
        == 64_000
    # USD amounts as numbers or numeric strings, exactly
    price = accepts("models/gpt-4o/price/input", "0.80").models["gpt-4o"].price
    assert price is not None and price.input == Decimal("0.80")
    for good in (10_000, "10000", "1e3", 2.5, "0", ".5"):
        accepts("models/gpt-4o/price/output", good)
    assert accepts("tiers/opus/task_timeout_seconds", 86_400).tiers["opus"] \
        .task_timeout_seconds == 86_400
    assert accepts("budgets/daily_usd", "1000000").budgets.daily_usd == Decimal(1_000_000)


def test_a_window_and_a_max_tokens_that_fit_are_accepted() -> None:
    # The window may equal the output limit; a key's max_tokens one below the window
    doc = copy.deepcopy(default_document())
    doc["models"]["claude-haiku-4-5"].update(context_window=8192, max_output_tokens=8192)
    doc["model_keys"]["lookup"]["max_tokens"] = 8191
    doc["model_keys"]["monitoring"]["max_tokens"] = 512
    cfg = load_config(doc)
    assert cfg.models["claude-haiku-4-5"].context_window == 8192
    # A key's max_tokens equal to the window leaves no room: refused by that key's path
    doc["model_keys"]["lookup"]["max_tokens"] = 8192
    with pytest.raises(ConfigError) as refused:
        load_config(doc)
    assert [path for path, _ in refused.value.problems] == ["model_keys.lookup.max_tokens"]


def test_a_context_window_smaller_than_the_output_limit_is_refused_by_config_apply(
    env: dict[str, str], tmp_path: Path
) -> None:
    as_json("config", "init")
    file = _yaml_with(tmp_path, "context_window: 200000\n    max_output_tokens: 64000",
                      "context_window: 100\n    max_output_tokens: 64000")
    refused = run("config", "apply", str(file), code=2)
    assert ("models.claude-sonnet-4-6.context_window: 100 is smaller than its "
            "max_output_tokens 64000") in refused.stderr
    assert as_json("config", "show")["version"] == 1  # nothing stored


def test_the_shipped_models_carry_their_output_limits() -> None:
    limits = {name: m.max_output_tokens for name, m in load_config(default_document())
              .models.items()}
    assert limits == {"claude-opus-4-6": 32_000, "claude-sonnet-4-6": 64_000,
                      "claude-sonnet-4-5": 64_000, "claude-haiku-4-5": 64_000,
                      "kimi-for-coding": 32_768, "gemini-2.5-pro": 65_536, "gpt-4o": 16_384}
    # A model written without one gets the default, 8,192
    doc = copy.deepcopy(default_document())
    del doc["models"]["gpt-4o"]["max_output_tokens"]
    assert load_config(doc).models["gpt-4o"].max_output_tokens == 8_192


def _yaml_with(tmp_path: Path, line_from: str, line_to: str) -> Path:
    text = Path(__file__).resolve().parents[1].joinpath(
        "routing", "config", "default_config.yaml").read_text()
    assert line_from in text
    file = tmp_path / "config.yaml"
    file.write_text(text.replace(line_from, line_to, 1))
    return file


@pytest.mark.parametrize(("line_from", "line_to", "path", "says"), [
    ("task_timeout_seconds: 300", "task_timeout_seconds: .inf",
     "tiers.opus.task_timeout_seconds", "finite number"),
    ("max_tokens: 512\n    prompt_cache", "max_tokens: true\n    prompt_cache",
     "model_keys.monitoring.max_tokens", "valid integer"),
    ("max_tokens: 512\n    prompt_cache", "max_tokens: \"512\"\n    prompt_cache",
     "model_keys.monitoring.max_tokens", "valid integer"),
    ("window_seconds: 86400", "window_seconds: 100000000000000000000",
     "budgets.window_seconds", "less than or equal to 31622400"),
    ("price: {input: 2.5,", "price: {input: 1e20,", "models.gpt-4o.price.input",
     "above the cap of 10,000 USD per MTok"),
    ("max_tokens: 4096\n    on_budget_exceeded: defer\n    description: delegation",
     "max_tokens: 1000000000000000000000000000000\n    on_budget_exceeded: defer\n"
     "    description: delegation", "model_keys.strategic_decision.max_tokens",
     "less than or equal to 1000000"),
])
def test_config_apply_refuses_a_yaml_value_by_path_and_stores_nothing(
    env: dict[str, str], tmp_path: Path, line_from: str, line_to: str, path: str, says: str
) -> None:
    as_json("config", "init")
    file = _yaml_with(tmp_path, line_from, line_to)
    refused = run("config", "apply", str(file), code=2)
    assert f"{path}: " in refused.stderr and says in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    # Nothing stored, and what is shown is JSON (no Infinity, no NaN)
    shown = run("config", "show", "--json").stdout
    assert json.loads(shown, parse_constant=lambda word: pytest.fail(word))["version"] == 1


def test_a_config_written_by_config_show_applies_unchanged(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The stored document writes prices as strings: they read back as the same amounts
    as_json("config", "init")
    shown = json.loads(run("config", "show", "--json").stdout)
    assert shown["models"]["gpt-4o"]["price"]["input"] == "2.5"
    file = tmp_path / "shown.yaml"
    file.write_text(yaml.safe_dump(shown))
    assert as_json("config", "apply", str(file))["unchanged"] is True
