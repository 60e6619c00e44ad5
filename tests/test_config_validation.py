"""A refused config names the path and the reason, and leaves the stored config as it was."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.config.store import ConfigStore
from routing.errors import ConfigError


@pytest.fixture
def doc() -> dict[str, Any]:
    return copy.deepcopy(default_document())


@pytest.fixture
def store(redis_client: redis.Redis, namespace: str) -> Iterator[ConfigStore]:
    yield ConfigStore(redis_client, namespace)


def problems_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(document)
    return dict(info.value.problems)


def test_default_config_is_valid() -> None:
    cfg = load_config(default_document())
    assert len(cfg.models) == 7 and len(cfg.model_keys) == 11


def test_unknown_fallback_model_names_path_and_reason(doc: dict[str, Any]) -> None:
    doc["model_keys"]["code_review"]["fallbacks"] = ["claude-sonnet-4-5", "gpt-5"]
    with pytest.raises(ConfigError) as info:
        load_config(doc)
    assert "model_keys.code_review.fallbacks[1]: unknown model 'gpt-5'" in str(info.value)
    assert list(dict(info.value.problems)) == ["model_keys.code_review.fallbacks[1]"]


def test_unpriced_model_is_refused_not_counted_at_zero(doc: dict[str, Any]) -> None:
    del doc["models"]["gpt-4o"]["price"]
    assert "no price" in problems_of(doc)["models.gpt-4o.price"]


def test_escalation_cycle_is_refused(doc: dict[str, Any]) -> None:
    doc["model_keys"]["strategic_decision"]["escalate_to"] = "code_review"
    reason = problems_of(doc)["model_keys.strategic_decision.escalate_to"]
    assert "escalation cycle" in reason and "code_review" in reason


def test_fallback_repeating_the_model_is_a_cycle(doc: dict[str, Any]) -> None:
    doc["model_keys"]["lookup"]["fallbacks"] = ["claude-haiku-4-5"]
    assert "cycle" in problems_of(doc)["model_keys.lookup.fallbacks[0]"]


def test_negative_price_is_refused(doc: dict[str, Any]) -> None:
    doc["models"]["gpt-4o"]["price"]["input"] = -1
    assert "greater than or equal to 0" in problems_of(doc)["models.gpt-4o.price.input"]


def test_unknown_tier_and_rule_model(doc: dict[str, Any]) -> None:
    doc["models"]["gpt-4o"]["tier"] = "platinum"
    doc["rules"][0]["model"] = "kimi-2"
    found = problems_of(doc)
    assert "unknown tier 'platinum'" in found["models.gpt-4o.tier"]
    assert "unknown model 'kimi-2'" in found["rules[0].model"]


def test_negative_budget_is_refused(doc: dict[str, Any]) -> None:
    doc["budgets"]["model_keys"]["monitoring"]["daily_usd"] = -2
    assert "budgets.model_keys.monitoring.daily_usd" in problems_of(doc)


def test_refusal_leaves_the_stored_config_untouched(
    store: ConfigStore, doc: dict[str, Any]
) -> None:
    store.init(author="test")
    before = store.read().document()
    doc["model_keys"]["code_review"]["fallbacks"] = ["gpt-5"]
    with pytest.raises(ConfigError):
        store.write(doc, author="test")
    with pytest.raises(ConfigError) as info:
        store.set_model("monitoring", "gpt-5", author="test")
    assert "model_keys.monitoring.model" in dict(info.value.problems)
    with pytest.raises(ConfigError) as unknown_key:
        store.set_model("no_such_key", "gpt-4o", author="test")
    assert "model_keys.no_such_key" in dict(unknown_key.value.problems)
    assert store.version() == 1
    assert store.read().document() == before
    assert [e["version"] for e in store.history()] == [1]


GOOD_TRIAL = {"candidate": "kimi-for-coding", "sample": 0.05, "daily_budget_usd": 1}


@pytest.mark.parametrize(("trial", "path", "reason"), [
    ({"candidate": "gpt-5"}, "trials[0].candidate", "unknown model 'gpt-5'"),
    ({"candidate": "claude-haiku-4-5"}, "trials[0].candidate", "already the key's model"),
    ({"sample": 0}, "trials[0].sample", "0 is not a share in (0, 1]: give the share of "
     "the key's successful calls to replay, e.g. 0.05 for 5%, or 1 for all"),
    ({"sample": 1.5}, "trials[0].sample", "1.5 is not a share in (0, 1]"),
    ({"sample": float("nan")}, "trials[0].sample", "nan is not a share in (0, 1]"),
    ({"sample": True}, "trials[0].sample", "True is not a share in (0, 1]"),
    # a share is a number, not a string of one, nor a percentage
    ({"sample": "0.5"}, "trials[0].sample", "'0.5' is not a share in (0, 1]"),
    ({"sample": "5%"}, "trials[0].sample",
     "'5%' is a percentage, not a share in (0, 1]: give the share of the key's successful "
     "calls to replay, e.g. 0.05 for 5%"),
    ({"daily_budget_usd": 0}, "trials[0].daily_budget_usd",
     "0 USD leaves the trial nothing to spend: give the trial's daily budget in USD above "
     "0, e.g. 1.00"),
    ({"daily_budget_usd": "0.0000001"}, "trials[0].daily_budget_usd",
     "below the smallest budget"),
    ({"judge": "summarize"}, "trials[0].judge", "unknown model key 'summarize'"),
    ({"extra": 1}, "trials[0].extra", "Extra inputs are not permitted"),
])
def test_a_bad_trial_is_refused_by_its_path(
    doc: dict[str, Any], trial: dict[str, Any], path: str, reason: str
) -> None:
    doc["model_keys"]["classification"]["trials"] = [{**GOOD_TRIAL, **trial}]
    problems = problems_of(doc)
    assert reason in problems[f"model_keys.classification.{path}"], problems


@pytest.mark.parametrize(("trials", "path", "reason"), [
    # trials as a mapping (one trial written without its list dash)
    (GOOD_TRIAL, "trials", "trials are a list, got a mapping: write each trial as a list "
     "item (`- candidate: kimi-for-coding` with its sample and daily_budget_usd on the "
     "lines below)"),
    ("kimi-for-coding", "trials", "trials are a list, got 'kimi-for-coding'"),
    (["kimi-for-coding"], "trials[0]", "a trial is a mapping such as {candidate: "
     "kimi-for-coding, sample: 0.05, daily_budget_usd: 1.00}, got 'kimi-for-coding'"),
])
def test_trials_of_the_wrong_shape_are_refused_with_the_shape_to_write(
    doc: dict[str, Any], trials: Any, path: str, reason: str
) -> None:
    doc["model_keys"]["classification"]["trials"] = trials
    problems = problems_of(doc)
    assert reason in problems[f"model_keys.classification.{path}"], problems


@pytest.mark.parametrize("batch", [True, "yes", 3600, [3600]])
def test_a_batch_that_is_no_mapping_is_refused_with_the_mapping_to_write(
    doc: dict[str, Any], batch: Any
) -> None:
    doc["model_keys"]["content_curation"]["batch"] = batch
    reason = problems_of(doc)["model_keys.content_curation.batch"]
    assert reason.startswith("batch is a mapping such as {max_wait_seconds: 3600} "
                             "(optionally max_items and on_failure), got "), reason
    assert reason.endswith("; leave `batch` out for direct calls")


def test_two_trials_of_one_candidate_are_refused(doc: dict[str, Any]) -> None:
    doc["model_keys"]["classification"]["trials"] = [GOOD_TRIAL, GOOD_TRIAL]
    assert "has a trial already" in problems_of(doc)[
        "model_keys.classification.trials[1].candidate"]


def test_a_refused_trial_changes_nothing_stored(doc: dict[str, Any], store: ConfigStore) -> None:
    store.init(author="t")
    doc["model_keys"]["classification"]["trials"] = [{**GOOD_TRIAL, "sample": 2}]
    with pytest.raises(ConfigError):
        store.write(doc, author="t")
    assert store.version() == 1 and not store.read().model_keys["classification"].trials
