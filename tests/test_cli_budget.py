"""`llm-router budget show|set` against a real Redis (in-process via CliRunner)."""

from __future__ import annotations

import pytest
import redis

from routing.budget import BudgetBook
from routing.defaults import default_document
from routing.kinds import BudgetPolicy
from routing.store import ConfigStore
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
