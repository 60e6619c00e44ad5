"""`llm-router budget show|set` against a real Redis (in-process via CliRunner)."""

from __future__ import annotations

import pytest
import redis

from routing.config.defaults import default_document
from routing.config.kinds import BudgetPolicy
from routing.config.store import ConfigStore
from routing.errors import ConfigError
from routing.spend.budget import BudgetBook
from tests.support.cli import as_json, run


@pytest.fixture
def store(env: dict[str, str], redis_client: redis.Redis, namespace: str) -> ConfigStore:
    s = ConfigStore(redis_client, namespace)
    s.init(default_document(), author="test")
    return s


def test_budget_show_lists_every_budget_with_its_spend(
    store: ConfigStore, redis_client: redis.Redis, namespace: str
) -> None:
    BudgetBook(redis_client, namespace).reserve(store.read(), "monitoring", "c1", 250_000)
    shown = as_json("budget", "show")
    assert shown["config_version"] == 1 and shown["window_seconds"] == 86400
    budgets = {b["budget"]: b for b in shown["budgets"]}
    assert shown["budgets"][0]["budget"] == "overall"
    assert set(budgets) == {"overall", "model_key:monitoring", "model_key:content_curation",
                            "model_key:strategic_decision"}
    mon = budgets["model_key:monitoring"]
    assert (mon["limit_micros"], mon["spent_micros"], mon["reserved_micros"],
            mon["remaining_micros"]) == (2_000_000, 0, 250_000, 1_750_000)
    assert mon["policy"] == "defer" and mon["resets_at"].endswith("T00:00:00Z")
    assert budgets["overall"]["reserved_micros"] == 250_000
    assert budgets["overall"]["limit_usd"] == 50.0
    text = run("budget", "show").stdout
    assert "model_key:monitoring" in text and "0.250000" in text


def test_budget_set_writes_a_new_config_version(store: ConfigStore) -> None:
    out = as_json("budget", "set", "--daily-usd", "75.5")
    assert out["version"] == 2 and out["budgets"]["daily_usd"] == "75.5"
    as_json("budget", "set", "--model-key", "lookup", "--daily-usd", "1.25")
    as_json("budget", "set", "--window-seconds", "3600")
    out = as_json("budget", "set", "--model-key", "lookup", "--policy", "reject")
    cfg = store.read()
    assert cfg.version == 5
    assert str(cfg.budgets.daily_usd) == "75.5" and cfg.budgets.window_seconds == 3600
    assert str(cfg.budgets.model_keys["lookup"].daily_usd) == "1.25"
    assert cfg.model_keys["lookup"].on_budget_exceeded is BudgetPolicy.reject
    assert "lookup on_budget_exceeded=reject" in out["summary"]
    # 'off' removes a budget
    as_json("budget", "set", "--model-key", "lookup", "--daily-usd", "off")
    as_json("budget", "set", "--daily-usd", "off")
    cfg = store.read()
    assert "lookup" not in cfg.budgets.model_keys and cfg.budgets.daily_usd is None
    assert cfg.version == 7
    shown = as_json("budget", "show")
    assert shown["budgets"][0]["limit_micros"] is None


def test_budget_set_refuses_bad_input_and_changes_nothing(store: ConfigStore) -> None:
    assert "--daily-usd must be a number" in run(
        "budget", "set", "--daily-usd", "lots", code=2).stderr
    assert "nothing to change" in run("budget", "set", code=2).stderr
    assert "need --model-key" in run("budget", "set", "--policy", "reject", code=2).stderr
    assert "unknown model key 'nope'" in run(
        "budget", "set", "--model-key", "nope", "--daily-usd", "1", code=2).stderr
    # policy downgrade without a model to downgrade to is refused by the config validation
    err = run("budget", "set", "--model-key", "code_review", "--policy", "downgrade",
              code=2).stderr
    assert "model_keys.code_review.downgrade_to" in err
    assert "expected version 9" in run(
        "budget", "set", "--daily-usd", "1", "--expect-version", "9", code=3).stderr
    assert store.read().version == 1


def test_a_downgrade_that_is_not_one_is_refused_naming_the_flag_and_prices(
    store: ConfigStore,
) -> None:
    # A downgrade to a dearer model: the flag, both models' prices and the fix
    dearer = run("budget", "set", "--model-key", "lookup", "--policy", "downgrade",
                 "--downgrade-to", "claude-opus-4-6", code=2).stderr
    assert ("error: --downgrade-to: 'claude-opus-4-6' ($5.00/$25.00 per MTok in/out) is not "
            "cheaper than the key's model 'claude-haiku-4-5' ($1.00/$5.00 per MTok in/out): "
            "a downgrade moves to a cheaper model; give a cheaper model (kimi-for-coding), or "
            "use policy 'defer' or 'reject'") in dearer
    # ... one of the same price, the key's own model, and whatever the policy
    assert ("'claude-sonnet-4-5' ($3.00/$15.00 per MTok in/out, more above 200,000 input "
            "tokens) is not cheaper") in run(
        "budget", "set", "--model-key", "code_review", "--policy", "downgrade",
        "--downgrade-to", "claude-sonnet-4-5", code=2).stderr
    own = run("budget", "set", "--model-key", "lookup", "--downgrade-to", "claude-haiku-4-5",
              "--json", code=2)
    assert "'claude-haiku-4-5' is already the key's model" in own.stderr
    assert "--downgrade-to" in own.stderr
    assert "is not cheaper" in run("budget", "set", "--model-key", "code_review",
                                   "--downgrade-to", "claude-opus-4-6", code=2).stderr
    assert store.read().version == 1  # nothing stored
    # A cheaper one is stored
    ok = as_json("budget", "set", "--model-key", "code_review", "--policy", "downgrade",
                 "--downgrade-to", "claude-haiku-4-5")
    assert ok["version"] == 2
    # A config that makes the downgrade dearer is refused by path, with the prices
    doc = store.read().document()
    doc["models"]["claude-haiku-4-5"]["price"]["input"] = "30"
    with pytest.raises(ConfigError) as refused:
        store.write(doc, author="test")
    reasons = dict(refused.value.problems)
    assert "'claude-haiku-4-5' ($30.00/$5.00 per MTok in/out) is not cheaper than the key's " \
        "model 'claude-sonnet-4-6' ($3.00/$15.00" in reasons["model_keys.code_review.downgrade_to"]
    # while a key moved onto its own downgrade model (`config set`) is accepted: it simply
    # has no downgrade left
    run("config", "set", "lookup", "kimi-for-coding")
    assert store.read().model_keys["lookup"].downgrade_to == "kimi-for-coding"


def test_budget_below_one_micro_dollar_is_refused_and_zero_warns(store: ConfigStore) -> None:
    # A positive limit below one micro-dollar would be stored as 0 and block every call
    refused = run("budget", "set", "--daily-usd", "0.0000001", code=2)
    assert "smallest budget, 0.000001 USD" in refused.stderr
    refused = run("budget", "set", "--model-key", "lookup", "--daily-usd", "0.0000009", code=2)
    assert "0.000001" in refused.stderr
    assert store.read().version == 1
    # The same through a config document: refused by the config validation, by path
    doc = default_document()
    doc["budgets"]["model_keys"]["lookup"] = {"daily_usd": "0.0000001"}
    with pytest.raises(ConfigError, match=r"budgets\.model_keys\.lookup\.daily_usd: "
                                          r"0\.0000001 USD is below the smallest budget"):
        store.write(doc, author="test")
    # One micro-dollar is accepted; 0 is accepted with a warning that it blocks every call
    assert as_json("budget", "set", "--daily-usd", "0.000001")["budgets"]["daily_usd"] == (
        "0.000001")
    zero = run("budget", "set", "--model-key", "lookup", "--daily-usd", "0")
    assert "warning: a 0 limit blocks every call of budget 'model_key:lookup'" in zero.stderr
    assert store.read().budgets.model_keys["lookup"].daily_usd == 0
    assert "warning" not in run("budget", "set", "--daily-usd", "3").stderr


def test_budget_set_to_its_current_value_writes_no_version(store: ConfigStore) -> None:
    current = store.read().budgets.model_keys["monitoring"].daily_usd
    out = as_json("budget", "set", "--model-key", "monitoring", "--daily-usd", str(current))
    assert (out["version"], out["unchanged"]) == (1, True)
    text = run("budget", "set", "--model-key", "monitoring", "--daily-usd", str(current))
    assert "unchanged (version 1)" in text.stdout
    assert store.version() == 1 and len(store.history()) == 1
    changed = as_json("budget", "set", "--model-key", "monitoring", "--daily-usd", "2.5")
    assert (changed["version"], changed["unchanged"]) == (2, False)
