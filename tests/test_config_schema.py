"""The config's runtime classes and its pydantic schema in step; a stored config read
without pydantic equals the validated one, and a corrupt one is still refused in full."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import redis
from pydantic import BaseModel

from routing.config import batch, models, price, samples, schema
from routing.config.defaults import default_document
from routing.config.load import load_config, read_config, read_price
from routing.config.store import ConfigStore
from routing.config.stored import Unread, construct, dump
from routing.errors import ConfigError

PAIRS: list[tuple[type[BaseModel], type]] = [
    (schema.Rates, price.Rates), (schema.PriceTier, price.PriceTier),
    (schema.Price, price.Price), (schema.BatchSpec, batch.BatchSpec),
    (schema.SampleSpec, samples.SampleSpec), (schema.ModelSpec, models.ModelSpec),
    (schema.TierSpec, models.TierSpec), (schema.Trial, models.Trial),
    (schema.ModelKeySpec, models.ModelKeySpec), (schema.Rule, models.Rule),
    (schema.KeyBudget, models.KeyBudget), (schema.AgentBudget, models.AgentBudget),
    (schema.Budgets, models.Budgets), (schema.RoutingConfig, models.RoutingConfig),
]


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "required"


@pytest.mark.parametrize(("checked", "runtime"), PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_every_schema_field_is_a_runtime_field_with_the_same_default(
        checked: type[BaseModel], runtime: type) -> None:
    assert checked.__name__ == runtime.__name__  # pydantic's messages name the class
    fields = {f.name: f for f in dataclasses.fields(runtime)}
    assert list(checked.model_fields) == list(fields)  # the document's order
    for name, info in checked.model_fields.items():
        theirs = "required" if info.is_required() else info.get_default(call_default_factory=True)
        ours = _default(fields[name])
        if isinstance(theirs, BaseModel):
            theirs = construct(type(ours), theirs.model_dump())
        assert ours == theirs, f"{runtime.__name__}.{name}"


def full_document() -> dict[str, Any]:
    """The shipped config with every optional field used."""
    doc = copy.deepcopy(default_document())
    key = doc["model_keys"]["code_review"]
    model = doc["models"][key["model"]]
    model["catalog_id"] = "claude-sonnet-4-6"
    model["price"]["tiers"] = [{"above_input_tokens": 200_000, "input": "6", "output": "22.5",
                                "cache_read": "0.6", "cache_write": "7.5"}]
    key["trials"] = [{"candidate": "gpt-4o", "sample": 0.05, "daily_budget_usd": "1.5"}]
    key["samples"] = {"share": 0.25, "max_count": 40}
    key["description"] = "reviews, naïve café ✓"
    doc["model_keys"]["classification"]["batch"] = {"max_wait_seconds": 600,
                                                     "on_failure": "direct"}
    doc["rules"] = [{"name": "long-review", "model_keys": ["code_review"],
                     "min_input_tokens": 100_000, "model": key["model"]}]
    doc["budgets"] = {"daily_usd": 25, "model_keys": {"code_review": {"daily_usd": "5.25"}},
                      "agents": {"triage-bot": {"daily_usd": 2, "run_max_usd": "0.5",
                                                "run_max_calls": 40,
                                                "on_budget_exceeded": "reject"}},
                      "window_seconds": 3600}
    return doc


@pytest.mark.parametrize("document", [default_document(), full_document()],
                         ids=["shipped", "every-field"])
def test_a_stored_document_reads_back_as_the_validated_config(document: dict[str, Any]) -> None:
    validated = schema.RoutingConfig.model_validate(document)
    cfg = load_config(document)
    stored = cfg.document()
    assert stored == validated.model_dump(mode="json")  # what pydantic would have stored
    assert json.loads(json.dumps(stored)) == stored
    assert read_config(json.loads(json.dumps(stored))) == cfg
    assert load_config(stored) == cfg


def test_the_every_field_document_uses_every_field() -> None:
    cfg = load_config(full_document())

    def unset(value: Any, path: str) -> list[str]:
        if not dataclasses.is_dataclass(value):
            return []
        found = []
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None or item in ((), {}):
                found.append(f"{path}.{f.name}")
            found += unset(item, f"{path}.{f.name}")
        return found

    key = cfg.model_keys["code_review"]
    where = [*unset(cfg, "config"), *unset(cfg.models[key.model], "model"),
             *unset(key, "key"), *unset(cfg.budgets.agents["triage-bot"], "agent")]
    # the options the shipped config's other models and keys leave out are no other fields
    assert not [w for w in where if w.startswith(("model.", "key.", "agent."))
                and not w.endswith((".judge", ".escalate_to", ".downgrade_to", ".batch",
                                    ".needs", ".supports", ".batch_discount"))], where


@pytest.mark.parametrize(("change", "path", "message"), [
    (lambda d: d["tiers"]["haiku"].update(colour="red"), "tiers.haiku.colour",
     "Extra inputs are not permitted"),
    (lambda d: d["tiers"]["haiku"].update(concurrency="4"), "tiers.haiku.concurrency",
     "valid integer"),
    (lambda d: d["models"]["claude-haiku-4-5"].pop("tier"), "models.claude-haiku-4-5.tier",
     "Field required"),
    (lambda d: d["model_keys"]["monitoring"].update(description="\ud800"),
     "model_keys.monitoring.description", "lone surrogate"),
    (lambda d: d["models"]["claude-haiku-4-5"]["price"].update(input="NaN"),
     "models.claude-haiku-4-5.price.input", "USD"),
])
def test_a_document_out_of_shape_is_validated_in_full(change: Any, path: str,
                                                      message: str) -> None:
    doc = load_config(default_document()).document()
    change(doc)
    with pytest.raises(Unread):
        construct(models.RoutingConfig, doc)
    with pytest.raises(ConfigError) as info:
        read_config(doc)
    problems = dict(info.value.problems)
    assert message in problems[path], problems


def test_a_stored_config_is_cross_checked_on_read() -> None:
    doc = load_config(default_document()).document()
    doc["model_keys"]["monitoring"]["model"] = "no-such-model"
    with pytest.raises(ConfigError) as info:
        read_config(doc)
    assert "unknown model 'no-such-model'" in dict(info.value.problems)[
        "model_keys.monitoring.model"]


def test_a_corrupt_stored_config_is_named_as_such(redis_client: redis.Redis,
                                                  namespace: str) -> None:
    store = ConfigStore(redis_client, namespace)
    store.init(default_document(), author="test")
    doc = store.read().document()
    doc["budgets"]["window"] = 60
    redis_client.set(store.current_key, json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        store.read()
    (path, why), = info.value.problems
    assert path == ""
    assert "the stored config (current)" in why and "is corrupt" in why
    assert "budgets.window" in why and "Extra inputs are not permitted" in why


def test_a_price_is_read_as_validated() -> None:
    given = {"input": "1.25", "output": "10", "cache_read": "0.125", "cache_write": "1.25",
             "batch_discount": "0.5", "tiers": [{"above_input_tokens": 200_000,
                                                 "input": "2.5", "output": "15",
                                                 "cache_read": "0.25", "cache_write": "2.5"}]}
    assert read_price(given) == schema.load_price(given)
    assert dump(read_price(given)) == schema.Price.model_validate(given).model_dump(mode="json")
    with pytest.raises(ConfigError) as info:
        read_price({**given, "input": -1})
    assert "price.input" in dict(info.value.problems)


def test_reading_a_stored_config_loads_no_pydantic() -> None:
    doc = load_config(full_document()).document()
    probe = ("import json, sys\n"
             "from routing.config.load import read_config\n"
             "cfg = read_config(json.loads(sys.stdin.read()))\n"
             "cfg.document()\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pydantic')))\n")
    done = subprocess.run([sys.executable, "-c", probe], input=json.dumps(doc), text=True,
                          capture_output=True, timeout=60, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
