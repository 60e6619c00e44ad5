"""The default config routes every model key where DESIGN.md says, with no I/O."""

from __future__ import annotations

import pytest

from routing.config.defaults import default_config
from routing.errors import UnknownModelKeyError
from routing.router import Router
from tests.support.design import (
    DESIGN_ROUTES,
    LARGE_CONTEXT_KEYS,
    LARGE_CONTEXT_ROUTE,
    LARGE_CONTEXT_TOKENS,
)

EXPECTED = DESIGN_ROUTES


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(default_config())


def test_the_default_config_has_exactly_the_designed_keys(router: Router) -> None:
    assert set(router.config.model_keys) == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_default_key_routes_to_its_model_and_queue(router: Router, key: str) -> None:
    decision = router.decide(key)
    assert (decision.model, decision.queue) == EXPECTED[key]
    assert decision.rule == "default"
    assert decision.queue == f"llm.{decision.tier}"
    assert decision.model not in decision.fallbacks


@pytest.mark.parametrize("key", LARGE_CONTEXT_KEYS)
def test_the_50k_rule_fires_at_the_threshold_not_below(router: Router, key: str) -> None:
    below = router.decide(key, input_tokens=LARGE_CONTEXT_TOKENS - 1)
    at = router.decide(key, input_tokens=LARGE_CONTEXT_TOKENS)
    assert (below.model, below.queue, below.rule) == (*EXPECTED[key], "default")
    assert (at.model, at.queue, at.rule) == LARGE_CONTEXT_ROUTE
    assert EXPECTED[key][0] in at.fallbacks


def test_the_50k_rule_only_applies_to_its_keys(router: Router) -> None:
    assert router.decide("drafting", input_tokens=60_000).model == "claude-sonnet-4-6"


def test_unknown_key_lists_the_known_keys(router: Router) -> None:
    with pytest.raises(UnknownModelKeyError) as info:
        router.decide("summarize")
    message = str(info.value)
    assert "unknown model key 'summarize'" in message
    assert all(key in message for key in EXPECTED)
