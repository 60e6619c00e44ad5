"""Model capabilities (tools, images, structured_output): what the shipped config declares,
how the router and the policy pass over a model that lacks what a call needs (recorded in
the hops), the refusal of a config whose key cannot serve its declared needs (real config
writes), and `llm-router route --needs`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from routing.config.defaults import default_document
from routing.config.kinds import Capability
from routing.config.load import load_config
from routing.config.store import ConfigStore
from routing.errors import BudgetExceededError, ConfigError, NoCapableModelError
from routing.router import Router
from tests.support.cli import as_json, run
from workers.errors import AllModelsFailedError, TaskInputError
from workers.execution.policy import (
    Arrived,
    BudgetRefused,
    Context,
    Defer,
    Fail,
    Hop,
    OutputRejected,
    ProviderFailed,
    RetryPolicy,
    Unrouted,
    next_step,
)
from workers.execution.route_state import RouteState
from workers.providers.errors import TransientError

TOOLS = frozenset({Capability.tools})
IMAGES = frozenset({Capability.images})
DEFAULT_YAML = Path(__file__).parents[1] / "routing" / "config" / "default_config.yaml"
RETRY = RetryPolicy(base_delay=2.0, max_delay=60.0, attempts_per_model=1, max_escalations=2)


def doc_with(edits: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(default_document())
    for path, value in edits.items():
        *parents, leaf = path.split("/")
        node = doc
        for part in parents:
            node = node[part]
        node[leaf] = value
    return doc


def router(edits: dict[str, Any] | None = None) -> Router:
    return Router(load_config(doc_with(edits or {})))


def ctx(key: str, r: Router, needs: frozenset[Capability]) -> Context:
    return Context(r, key, 100, None, RETRY, jitter=lambda lo, hi: hi, needs=needs)


# -- the shipped config ------------------------------------------------------------------


def test_the_shipped_config_declares_what_every_model_supports() -> None:
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    for name, model in raw["models"].items():
        assert model.get("supports"), f"models.{name} declares no supports"
    cfg = load_config(default_document())
    assert set(cfg.models["kimi-for-coding"].supports) == {Capability.tools}
    for name, model in cfg.models.items():
        if name != "kimi-for-coding":
            assert set(model.supports) == set(Capability), name


# -- the router ----------------------------------------------------------------------------


def test_the_router_passes_over_a_model_without_what_the_call_needs() -> None:
    r = router()
    plain = r.decide("large_context_coding")
    assert (plain.model, plain.skipped) == ("kimi-for-coding", ())
    seeing = r.decide("large_context_coding", needs=IMAGES)
    assert seeing.model == "gemini-2.5-pro"
    assert seeing.skipped == (("kimi-for-coding", "lacks images"),)
    assert seeing.rule == "capability:kimi-for-coding"
    assert "kimi-for-coding" not in seeing.fallbacks  # it cannot take this call either...
    assert seeing.skip_hops() == ({"kind": "skip", "from": "kimi-for-coding",
                                   "to": "gemini-2.5-pro", "reason": "lacks images"},)
    # ...and a need the model has changes nothing
    assert r.decide("large_context_coding", needs=TOOLS) == plain


def test_a_rule_target_without_the_capability_is_passed_over() -> None:
    r = router()
    big = r.decide("code_generation", 60_000)
    assert big.model == "kimi-for-coding"
    with_image = r.decide("code_generation", 60_000, IMAGES)
    assert with_image.model == "claude-sonnet-4-6"
    assert with_image.skipped == (("kimi-for-coding", "lacks images"),)


def test_no_capable_model_names_the_need_and_the_fix() -> None:
    r = router({"models/claude-haiku-4-5/supports": ["images"],
                "models/gemini-2.5-pro/supports": []})
    with pytest.raises(NoCapableModelError) as info:
        r.decide("lookup", needs=TOOLS)
    text = str(info.value)
    assert "needs tools" in text and "claude-haiku-4-5 lacks tools" in text
    assert "gemini-2.5-pro lacks tools" in text and "fallbacks" in text


# -- the policy ----------------------------------------------------------------------------


def test_a_fallback_without_the_capability_is_skipped_in_the_hops() -> None:
    r = router({"models/claude-sonnet-4-5/supports": []})
    c = ctx("code_review", r, TOOLS)
    start = RouteState.initial(r.decide("code_review", needs=TOOLS))
    failed = start.after_call(0, failed=True)
    step = next_step(failed, ProviderFailed(TransientError("503")), c)
    assert isinstance(step, Hop) and step.kind == "fallback"
    assert step.state.model == "gpt-4o"
    assert [h["kind"] for h in step.state.hops] == ["fallback", "skip"]
    assert step.state.hops[-1] == {"kind": "skip", "from": "claude-sonnet-4-5",
                                   "to": "gpt-4o", "reason": "lacks tools"}
    # gpt-4o failing too: nothing capable left
    last = next_step(step.state.after_call(0, failed=True),
                     ProviderFailed(TransientError("503")), c)
    assert isinstance(last, Fail) and isinstance(last.error, AllModelsFailedError)


def test_routing_on_arrival_records_the_skip() -> None:
    r = router()
    step = next_step(None, Unrouted(), ctx("large_context_coding", r, IMAGES))
    assert isinstance(step, Hop) and step.state.model == "gemini-2.5-pro"
    assert step.state.hops[0]["kind"] == "skip"
    # A state routed without the call's needs (at send time) is routed again on arrival
    sent = RouteState.initial(r.decide("large_context_coding"))
    moved = next_step(replace(sent, calls=1), Arrived(), ctx("large_context_coding", r, IMAGES))
    assert isinstance(moved, Hop) and moved.kind == "reroute"
    assert moved.state.model == "gemini-2.5-pro"
    assert "kimi-for-coding lacks images" in moved.reason
    # A call needing nothing the model lacks is routed straight to the model
    plain = next_step(None, Unrouted(), ctx("large_context_coding", r, TOOLS))
    assert isinstance(plain, Hop) and plain.state.model == "kimi-for-coding"


def test_a_call_no_model_of_its_key_can_take_fails_as_bad_input() -> None:
    r = router({"models/claude-haiku-4-5/supports": [], "models/gemini-2.5-pro/supports": []})
    step = next_step(None, Unrouted(), ctx("lookup", r, TOOLS))
    assert isinstance(step, Fail) and isinstance(step.error, TaskInputError)
    assert "needs tools" in str(step.error)


def test_escalation_skips_a_target_model_without_the_capability() -> None:
    r = router({"models/claude-sonnet-4-6/supports": ["tools"]})
    c = ctx("lookup", r, IMAGES)
    start = RouteState.initial(r.decide("lookup", needs=IMAGES))
    step = next_step(start.after_call(0, failed=False), OutputRejected("bad label"), c)
    assert isinstance(step, Hop) and step.kind == "escalate"
    assert step.state.route_key == "orchestration"
    assert step.state.model == "claude-sonnet-4-5"
    assert step.state.hops[-1]["reason"] == "lacks images"


def test_a_downgrade_model_without_the_capability_is_no_way_out() -> None:
    r = router()
    refusal = BudgetExceededError("model_key:lookup", 100, 90, 5, 20, "2026-11-28T00:00:00Z")
    start = RouteState.initial(r.decide("lookup"))
    plain = next_step(start, BudgetRefused(refusal), ctx("lookup", r, frozenset()))
    assert isinstance(plain, Hop) and plain.state.model == "kimi-for-coding"
    seeing = next_step(start, BudgetRefused(refusal), ctx("lookup", r, IMAGES))
    assert isinstance(seeing, Defer)


# -- write-time refusal ------------------------------------------------------------------------


@pytest.fixture
def store(redis_client: redis.Redis, namespace: str) -> Iterator[ConfigStore]:
    yield ConfigStore(redis_client, namespace)


def test_a_key_whose_models_cannot_serve_its_needs_is_refused_when_written(
    store: ConfigStore,
) -> None:
    store.init(author="test")
    before = store.read().document()
    doc = doc_with({"model_keys/large_context_coding/needs": ["images"],
                    "model_keys/lookup/needs": ["images", "tools"],
                    "model_keys/code_generation/needs": ["images"]})
    with pytest.raises(ConfigError) as info:
        store.write(doc, author="test")
    problems = dict(info.value.problems)
    reason = problems["model_keys.large_context_coding.model"]
    assert "'kimi-for-coding' lacks images" in reason
    assert "models.kimi-for-coding.supports: [tools]" in reason
    assert "models that support it: claude-haiku-4-5" in reason
    assert "remove it from model_keys.large_context_coding.needs" in reason
    assert "lacks images" in problems["model_keys.lookup.downgrade_to"]  # its budget downgrade
    assert "lacks images" in problems["rules[0].model"]  # the 50k rule sends it to Kimi
    assert set(problems) == {"model_keys.large_context_coding.model",
                             "model_keys.lookup.downgrade_to", "rules[0].model"}
    assert store.version() == 1 and store.read().document() == before
    # What every model it may land on supports is accepted, and stored
    fine = doc_with({"model_keys/drafting/needs": ["tools", "images"]})
    store.write(fine, author="test")
    assert store.read().model_keys["drafting"].needs == (Capability.tools, Capability.images)


def test_an_escalation_target_without_the_capability_is_refused() -> None:
    doc = doc_with({"model_keys/monitoring/needs": ["structured_output"],
                    "model_keys/orchestration/model": "kimi-for-coding",
                    "model_keys/orchestration/fallbacks": []})
    with pytest.raises(ConfigError) as info:
        load_config(doc)
    assert "'kimi-for-coding' lacks structured_output" in dict(
        info.value.problems)["model_keys.monitoring.escalate_to"]


@pytest.mark.parametrize(("edit", "path", "reason"), [
    ({"models/gpt-4o/supports": ["tools", "tools"]}, "models.gpt-4o.supports",
     "tools listed more than once"),
    ({"models/gpt-4o/supports": ["vision"]}, "models.gpt-4o.supports[0]",
     "'tools', 'images' or 'structured_output'"),
    ({"model_keys/lookup/needs": "tools"}, "model_keys.lookup.needs", "tuple"),
])
def test_a_bad_capability_list_is_refused_by_its_path(
    edit: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(doc_with(edit))
    assert reason in dict(info.value.problems)[path]


# -- the CLI ---------------------------------------------------------------------------------


def test_route_needs_shows_the_decision_and_the_skips(env: dict[str, str]) -> None:
    as_json("config", "init")
    out = as_json("route", "large_context_coding", "--needs", "tools,images")
    assert out["model"] == "gemini-2.5-pro" and out["needs"] == ["images", "tools"]
    assert out["skipped"] == [{"model": "kimi-for-coding", "reason": "lacks images"}]
    shown = run("route", "large_context_coding", "--needs", "images").stdout
    assert "kimi-for-coding (lacks images)" in shown
    bad = run("route", "lookup", "--needs", "vision", code=2).stderr
    assert "--needs: unknown capability 'vision'" in bad and "structured_output" in bad
