"""A model key's `batch`: validated strictly, refused by path with the fix, allowed only
on a model whose provider has a batch API and a batch price; the batch rate priced exactly."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routing.config.batch import BatchSpec
from routing.config.defaults import default_config, default_document
from routing.config.kinds import BatchFailure
from routing.config.load import load_config
from routing.errors import ConfigError
from routing.prices.pricing import Usage, cost_micros, worst_case_micros
from tests.support.cli import as_json, run


def problems(change: Any) -> dict[str, str]:
    doc = copy.deepcopy(default_document())
    change(doc)
    with pytest.raises(ConfigError) as info:
        load_config(doc)
    return dict(info.value.problems)


def batch(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["model_keys"][key]["batch"] = value
    return change


def test_the_shipped_config_batches_curation_on_haiku_and_nothing_else() -> None:
    cfg = default_config()
    assert cfg.model_keys["content_curation"].batch == BatchSpec(max_wait_seconds=3600)
    assert [k for k, s in cfg.model_keys.items() if s.batch] == ["content_curation"]
    # a batched key's fallback without a batch API is called directly
    assert cfg.batch_for("content_curation", "claude-haiku-4-5") is not None
    assert cfg.batch_for("content_curation", "gemini-2.5-pro") is None
    assert cfg.batch_for("monitoring", "claude-haiku-4-5") is None
    # batch prices where a batch API is used, none elsewhere
    assert {m for m, s in cfg.models.items() if s.price and s.price.batch_discount} == {
        "claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5",
        "gpt-4o"}


@pytest.mark.parametrize(("key", "provider"), [("large_context_coding", "moonshot")])
def test_a_provider_without_a_batch_api_is_refused_by_name(key: str, provider: str) -> None:
    reason = problems(batch(key, {"max_wait_seconds": 600}))[f"model_keys.{key}.batch"]
    assert f"provider '{provider}', which has no batch API" in reason
    assert "(batches: anthropic, openai)" in reason and "remove `batch`" in reason


def test_gemini_is_refused_too_even_with_a_batch_price() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["models"]["gemini-2.5-pro"]["price"]["batch_discount"] = 0.5
        doc["model_keys"]["lookup"]["model"] = "gemini-2.5-pro"
        doc["model_keys"]["lookup"]["fallbacks"] = []
        doc["model_keys"]["lookup"]["batch"] = {"max_wait_seconds": 600}
    assert "provider 'google'" in problems(change)["model_keys.lookup.batch"]


@pytest.mark.parametrize("discount", [None, 0, "0"])
def test_a_model_without_a_batch_price_is_refused_with_the_fix(discount: Any) -> None:
    def change(doc: dict[str, Any]) -> None:
        price = doc["models"]["claude-haiku-4-5"]["price"]
        if discount is None:
            del price["batch_discount"]
        else:
            price["batch_discount"] = discount
    reason = problems(change)["model_keys.content_curation.batch"]
    assert "'claude-haiku-4-5' has no batch price" in reason
    assert "add models.claude-haiku-4-5.price.batch_discount" in reason


@pytest.mark.parametrize(("value", "path", "says"), [
    ({"max_wait_seconds": 59}, "max_wait_seconds", "59 s is outside 60..86400 seconds"),
    ({"max_wait_seconds": 86_401}, "max_wait_seconds", "providers' 24-hour window"),
    ({"max_wait_seconds": float("inf")}, "max_wait_seconds", "finite number"),
    ({"max_wait_seconds": True}, "max_wait_seconds", "valid number"),
    ({"max_wait_seconds": "3600"}, "max_wait_seconds", "valid number"),
    ({}, "max_wait_seconds", "Field required"),
    ({"max_wait_seconds": 600, "max_items": 0}, "max_items", "greater than or equal to 1"),
    ({"max_wait_seconds": 600, "max_items": 50_001}, "max_items",
     "less than or equal to 50000"),
    ({"max_wait_seconds": 600, "max_items": 10.0}, "max_items", "valid integer"),
    ({"max_wait_seconds": 600, "on_failure": "retry"}, "on_failure", "'direct' or 'fail'"),
    ({"max_wait_seconds": 600, "max_wait": 5}, "max_wait", "Extra inputs"),
])
def test_bad_batch_settings_are_refused_by_path(value: Any, path: str, says: str) -> None:
    found = problems(batch("content_curation", value))
    reason = found[f"model_keys.content_curation.batch.{path}"]
    assert says in reason, reason


def test_batch_must_be_a_mapping() -> None:
    assert "model_keys.content_curation.batch" in problems(batch("content_curation", 3600))


@pytest.mark.parametrize("wait", [60, 86_400, 900.5])
def test_the_bounds_themselves_are_accepted(wait: float) -> None:
    doc = copy.deepcopy(default_document())
    doc["model_keys"]["lookup"]["batch"] = {"max_wait_seconds": wait, "max_items": 50_000,
                                            "on_failure": "fail"}
    spec = load_config(doc).model_keys["lookup"].batch
    assert spec == BatchSpec(max_wait_seconds=wait, max_items=50_000,
                             on_failure=BatchFailure.fail)
    # reserved for its wait, the provider's day and an hour of polling
    assert spec.reservation_seconds() == wait + 86_400 + 3600


def test_the_batch_rate_is_priced_exactly() -> None:
    price = default_config().price_of("claude-haiku-4-5")  # 1 / 5 / 0.1 / 1.25, half off
    usage = Usage(input_tokens=1001, output_tokens=333, cache_read_tokens=2000,
                  cache_write_tokens=7)
    direct = 1001 * 1 + 333 * 5 + 2000 * Decimal("0.1") + 7 * Decimal("1.25")  # 2874.75
    assert cost_micros(usage, price) == 2875
    assert cost_micros(usage, price, batch=True) == 1437  # 1437.375, rounded half-up
    assert direct == Decimal("2874.75")
    # (5 x 1.25 + 1024 x 5) / 2 = 2563.125, rounded up
    assert worst_case_micros(5, 1024, price, batch=True) == 2564
    kimi = default_config().price_of("kimi-for-coding")
    with pytest.raises(ValueError, match="no batch price"):
        cost_micros(usage, kimi, batch=True)


def test_config_apply_refuses_a_bad_batch_and_stores_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    run("config", "init")
    doc = copy.deepcopy(default_document())
    doc["model_keys"]["large_context_coding"]["batch"] = {"max_wait_seconds": 600}
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(doc))
    refused = run("config", "apply", str(path), code=2)
    assert "model_keys.large_context_coding.batch: 'kimi-for-coding' is served by provider " \
        "'moonshot'" in refused.stderr
    assert as_json("config", "show")["version"] == 1
