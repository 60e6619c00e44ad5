"""The execution policy, branch by branch: a pure function, so no broker and no worker.

Each row: a route state, what happened, and the step the policy must return. The shipped
config's routes are the ones DESIGN.md states (tests/support/design.py); jitter is fixed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.config.defaults import default_document
from routing.config.load import load_config
from routing.errors import BudgetExceededError
from routing.router import Router
from tests.support.design import DESIGN_ROUTES
from workers.errors import (
    AllModelsFailedError,
    BudgetRejectedError,
    OutputInvalidError,
    ProviderRefusedError,
    TaskInputError,
)
from workers.execution.policy import (
    Arrived,
    BudgetRefused,
    Call,
    Context,
    Defer,
    Fail,
    Hop,
    OutputRejected,
    ProviderFailed,
    RetryPolicy,
    Unrouted,
    allowed_models,
    next_step,
)
from workers.execution.route_state import ROUTE_HEADER, BadRouteHeader, RouteState
from workers.providers.errors import (
    MissingKeyError,
    OverloadedError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

RETRY = RetryPolicy(base_delay=2.0, max_delay=60.0, attempts_per_model=3, max_escalations=2)
HAIKU, HAIKU_QUEUE = DESIGN_ROUTES["monitoring"]
SONNET, SONNET_QUEUE = DESIGN_ROUTES["code_review"]


def router(edits: dict[str, Any] | None = None) -> Router:
    """The shipped config's router, with `edits` ("models/gpt-4o/context_window": 1000)."""
    doc = default_document()
    for path, value in (edits or {}).items():
        *parents, leaf = path.split("/")
        node = doc
        for part in parents:
            node = node[part]
        node[leaf] = value
    return Router(load_config(doc))


def ctx(key: str = "monitoring", r: Router | None = None, tokens: int = 100,
        max_tokens: int | None = None) -> Context:
    return Context(r or router(), key, tokens, max_tokens, RETRY, jitter=lambda lo, hi: hi)


def state(key: str = "monitoring", r: Router | None = None, **changes: Any) -> RouteState:
    return replace(RouteState.initial((r or router()).decide(key)), **changes)


def refusal() -> BudgetExceededError:
    return BudgetExceededError("model_key:monitoring", 100, 90, 5, 20, "2026-11-28T00:00:00Z")


# -- arrival ------------------------------------------------------------------------------

def test_unrouted_is_routed_and_hops_to_its_tier() -> None:
    step = next_step(None, Unrouted(), ctx("code_review"))
    assert isinstance(step, Hop) and step.kind == "route" and step.delay == 0
    assert (step.state.model, step.state.queue) == (SONNET, SONNET_QUEUE)


@pytest.mark.parametrize(("key", "tokens", "match"), [
    ("summarize", 10, "model_key: unknown model key 'summarize'"),
    ("monitoring", 10_000_000, "do not fit the context window"),
])
def test_unroutable_input_fails_naming_the_fix(key: str, tokens: int, match: str) -> None:
    step = next_step(None, Unrouted(), ctx(key, tokens=tokens))
    assert isinstance(step, Fail) and isinstance(step.error, TaskInputError)
    assert match in str(step.error)


def test_arrived_with_no_cooldown_calls() -> None:
    s = state()
    assert next_step(s, Arrived(0.0), ctx()) == Call(s)


def test_arrived_during_a_short_cooldown_waits_for_it_on_the_same_model() -> None:
    s = state()
    step = next_step(s, Arrived(5.0), ctx())
    assert isinstance(step, Hop) and step.kind == "wait" and step.state == s
    assert step.delay == pytest.approx(5.25)  # the cooldown plus (fixed) jitter


def test_arrived_during_a_long_cooldown_falls_back() -> None:
    s = state()
    step = next_step(s, Arrived(RETRY.max_delay + 1), ctx())
    assert isinstance(step, Hop) and step.kind == "fallback" and step.delay == 0
    assert step.state.fallback_from == (HAIKU,) and step.state.model != HAIKU


OPUS_QUEUE = DESIGN_ROUTES["strategic_decision"][1]


@pytest.mark.parametrize(("delivered", "cooldown", "expected"), [
    (None, 0.0, "call"),  # the delivery queue is unknown (or a hop followed in place)
    (HAIKU_QUEUE, 0.0, "call"),  # delivered where it was routed
    (OPUS_QUEUE, 0.0, "forward"),  # apply_async(queue=...) named another tier's queue
    ("celery", 0.0, "forward"),  # routed, but sent to the default queue
    (OPUS_QUEUE, 5.0, "forward"),  # forwarded first; the cooldown is waited on its tier
])
def test_arrived_on_another_queue_than_its_route_is_forwarded_there(
    delivered: str | None, cooldown: float, expected: str
) -> None:
    s = state()
    step = next_step(s, Arrived(cooldown, delivered), ctx())
    if expected == "call":
        assert step == Call(s)
        return
    # The routing config wins: same model, its own tier's queue, now
    assert isinstance(step, Hop) and step.kind == "forward" and step.delay == 0
    assert step.state == s and step.state.queue == HAIKU_QUEUE
    assert f"delivered on {delivered}" in step.reason


def test_arrived_for_a_model_moved_to_another_tier_goes_to_that_tiers_queue() -> None:
    s = state()  # routed to the haiku tier's queue
    moved = router({f"models/{HAIKU}/tier": "sonnet"})
    step = next_step(s, Arrived(0.0, HAIKU_QUEUE), ctx(r=moved))
    assert isinstance(step, Hop) and step.kind == "forward"
    assert (step.state.model, step.state.tier, step.state.queue) == (HAIKU, "sonnet",
                                                                     SONNET_QUEUE)
    # and once there, it calls
    assert next_step(step.state, Arrived(0.0, SONNET_QUEUE), ctx(r=moved)) == Call(step.state)


def test_arrived_for_a_model_removed_from_the_config_reroutes() -> None:
    old = state()
    moved = router({"model_keys/monitoring/model": SONNET, "model_keys/monitoring/fallbacks": []})
    step = next_step(replace(old, model="retired-model"), Arrived(0.0), ctx(r=moved))
    assert isinstance(step, Hop) and step.kind == "reroute"
    assert (step.state.model, step.state.queue, step.state.rerouted) == (SONNET, SONNET_QUEUE,
                                                                           True)


def test_arrived_for_a_removed_route_key_reroutes_by_the_callers_key() -> None:
    escalated = state(route_key="gone_key")
    step = next_step(escalated, Arrived(0.0), ctx())
    assert isinstance(step, Hop) and step.kind == "reroute"
    assert step.state.route_key == "monitoring" and step.state.rerouted


# -- provider failures ------------------------------------------------------------------

def failed(s: RouteState) -> RouteState:
    return s.after_call(0, failed=True)


def test_rate_limited_retries_after_retry_after_and_cools_the_model_down() -> None:
    s = failed(state())
    step = next_step(s, ProviderFailed(RateLimitedError("429", retry_after=3.0)), ctx())
    assert isinstance(step, Hop) and step.kind == "retry" and step.state == s
    assert step.cooldown == (HAIKU, 3.0)
    assert 3.0 < step.delay <= 3.0 + 1.0


def test_rate_limited_without_retry_after_waits_the_base_delay() -> None:
    step = next_step(failed(state()), ProviderFailed(RateLimitedError("429")), ctx())
    assert isinstance(step, Hop) and step.cooldown == (HAIKU, RETRY.base_delay)


def test_rate_limited_for_longer_than_the_longest_wait_falls_back_and_still_cools_down() -> None:
    err = RateLimitedError("429", retry_after=RETRY.max_delay * 10)
    step = next_step(failed(state()), ProviderFailed(err), ctx())
    assert isinstance(step, Hop) and step.kind == "fallback"
    assert step.cooldown == (HAIKU, RETRY.max_delay * 10)


def test_rate_limited_after_the_last_attempt_falls_back() -> None:
    s = state(attempt=RETRY.attempts_per_model)
    step = next_step(s, ProviderFailed(RateLimitedError("429", retry_after=1)), ctx())
    assert isinstance(step, Hop) and step.kind == "fallback"


@pytest.mark.parametrize("error", [TransientError("500"), OverloadedError("529")])
def test_transient_failures_back_off_exponentially(error: Exception) -> None:
    delays = []
    for attempt in (1, 2):
        step = next_step(state(attempt=attempt), ProviderFailed(error), ctx())  # type: ignore[arg-type]
        assert isinstance(step, Hop) and step.kind == "retry" and step.cooldown is None
        delays.append(step.delay)
    assert delays == [RETRY.base_delay, 2 * RETRY.base_delay]  # delay/2 + jitter(delay/2)


def test_transient_failures_after_the_last_attempt_fall_back_to_the_next_model() -> None:
    s = state("code_review", attempt=RETRY.attempts_per_model)
    step = next_step(s, ProviderFailed(TransientError("500")), ctx("code_review"))
    assert isinstance(step, Hop) and step.kind == "fallback"
    assert step.state.model == router().decide("code_review").fallbacks[0]
    assert step.state.attempt == 0 and step.state.fallback_from == (SONNET,)
    assert step.state.tried == (SONNET,)


def test_missing_key_falls_back_at_once() -> None:
    step = next_step(failed(state()), ProviderFailed(MissingKeyError("anthropic",
                                                                      "ANTHROPIC_API_KEY")), ctx())
    assert isinstance(step, Hop) and step.kind == "fallback" and step.delay == 0
    assert "ANTHROPIC_API_KEY" in step.reason


def test_permanent_errors_fail_at_once() -> None:
    step = next_step(failed(state()), ProviderFailed(PermanentError("400 bad")), ctx())
    assert isinstance(step, Fail) and isinstance(step.error, ProviderRefusedError)
    assert HAIKU in str(step.error) and "400 bad" in str(step.error)


def test_fallback_skips_tried_models_and_those_too_small_for_the_input() -> None:
    first, second = router().decide("code_review").fallbacks[:2]
    r = router({f"models/{first}/context_window": 10_000,
                f"models/{first}/max_output_tokens": 8192})  # (a window holds a reply)
    s = state("code_review", r, attempt=RETRY.attempts_per_model)
    # the first fallback cannot hold this input: the next one is chosen
    step = next_step(s, ProviderFailed(TransientError("500")),
                     ctx("code_review", r, tokens=20_000))
    assert isinstance(step, Hop) and step.state.model == second
    # and once that one was tried too, nothing is left
    tried = state("code_review", r, model=second, tried=(SONNET,),
                  attempt=RETRY.attempts_per_model)
    last = next_step(tried, ProviderFailed(TransientError("500")),
                     ctx("code_review", r, tokens=20_000))
    assert isinstance(last, Fail) and first not in str(last.error).split("tried")[1]


def test_every_model_tried_fails_naming_them() -> None:
    r = router()
    models = [SONNET, *r.decide("code_review").fallbacks]
    last = state("code_review", r, model=models[-1], tried=tuple(models[:-1]),
                 attempt=RETRY.attempts_per_model)
    step = next_step(last, ProviderFailed(TransientError("500")), ctx("code_review", r))
    assert isinstance(step, Fail) and isinstance(step.error, AllModelsFailedError)
    assert all(m in str(step.error) for m in models)


# -- output validation -------------------------------------------------------------------

def test_invalid_output_escalates_to_the_keys_target() -> None:
    s = state("classification").after_call(10, failed=False)
    step = next_step(s, OutputRejected("label 'maybe' is not one of [...]"),
                     ctx("classification"))
    target = router().config.model_keys["classification"].escalate_to
    assert target is not None
    assert isinstance(step, Hop) and step.kind == "escalate"
    assert step.state.route_key == target and step.state.model_key == "classification"
    assert step.state.escalated_from == (HAIKU,) and step.state.calls == 1


def test_escalation_stops_at_the_bound() -> None:
    s = state("classification", escalated_from=(HAIKU, SONNET))
    step = next_step(s, OutputRejected("bad"), ctx("classification"))
    assert isinstance(step, Fail) and isinstance(step.error, OutputInvalidError)
    assert "no escalation is left" in str(step.error)


def test_a_key_without_escalation_fails_on_invalid_output() -> None:
    s = state("strategic_decision")
    step = next_step(s, OutputRejected("bad"), ctx("strategic_decision"))
    assert isinstance(step, Fail) and isinstance(step.error, OutputInvalidError)


def test_an_escalation_target_that_cannot_hold_the_input_fails_by_name() -> None:
    small = ("claude-sonnet-4-6", "claude-sonnet-4-5", "gpt-4o")
    # (a window holds a reply and leaves room for the input: 4096 tokens of 4500)
    r = router({**{f"models/{m}/context_window": 4500 for m in small},
                **{f"models/{m}/max_output_tokens": 4096 for m in small}})
    s = state("classification", r)
    step = next_step(s, OutputRejected("bad"), ctx("classification", r, tokens=5000))
    assert isinstance(step, Fail) and isinstance(step.error, OutputInvalidError)
    assert "escalation target 'orchestration' cannot take it" in str(step.error)


# -- budgets -----------------------------------------------------------------------------

def budget_router(policy: str, downgrade_to: str | None = None) -> Router:
    edits: dict[str, Any] = {"model_keys/monitoring/on_budget_exceeded": policy}
    if downgrade_to is not None:
        edits["model_keys/monitoring/downgrade_to"] = downgrade_to
    return router(edits)


def test_budget_refused_with_policy_defer_defers_until_the_reset() -> None:
    r = budget_router("defer")
    step = next_step(state(r=r), BudgetRefused(refusal()), ctx(r=r))
    assert isinstance(step, Defer) and step.state.deferrals == 1
    assert step.error.resets_at == "2026-11-28T00:00:00Z"


def test_budget_refused_with_policy_reject_fails_and_is_counted() -> None:
    r = budget_router("reject")
    step = next_step(state(r=r), BudgetRefused(refusal()), ctx(r=r))
    assert isinstance(step, Fail) and isinstance(step.error, BudgetRejectedError)
    assert step.refusal is not None and "model_key:monitoring" in str(step.error)


def test_budget_refused_with_policy_downgrade_moves_to_the_cheaper_model_once() -> None:
    cheap = "kimi-for-coding"
    r = budget_router("downgrade", cheap)
    step = next_step(state(r=r), BudgetRefused(refusal()), ctx(r=r))
    assert isinstance(step, Hop) and step.kind == "downgrade"
    assert (step.state.model, step.state.downgraded_from) == (cheap, HAIKU)
    # refused again after the downgrade: no second downgrade, it waits for the window
    again = next_step(step.state, BudgetRefused(refusal()), ctx(r=r))
    assert isinstance(again, Defer)


def test_the_policy_is_deterministic_given_its_inputs() -> None:
    s = failed(state())
    event = ProviderFailed(TransientError("500"))
    assert next_step(s, event, ctx()) == next_step(s, event, ctx())
    assert isinstance(next_step(s, event, ctx()), Hop)


# -- route headers: honoured only for what the key may use --------------------------------

def test_a_forged_model_is_not_honoured() -> None:
    # Given a lookup task whose header names the Opus model (any producer can write one)
    forged = state("lookup", model="claude-opus-4-6", tier="opus", queue="llm.opus")
    step = next_step(forged, Arrived(0.0), ctx("lookup"))
    # Then it is routed again to what lookup uses, and says so
    assert isinstance(step, Hop) and step.kind == "reroute"
    assert (step.state.model, step.state.queue) == DESIGN_ROUTES["lookup"]
    assert step.state.rerouted and "not a model 'lookup' may use" in step.reason
    assert step.state.hops[-1]["from"] == "claude-opus-4-6"


def test_a_header_of_another_model_key_starts_afresh() -> None:
    other = state("strategic_decision", calls=7, cost_micros=999_999)
    step = next_step(other, Arrived(0.0), ctx("lookup"))
    assert isinstance(step, Hop) and step.kind == "reroute"
    assert (step.state.model_key, step.state.calls, step.state.cost_micros) == ("lookup", 0, 0)


def test_a_header_naming_the_wrong_tier_runs_on_its_models_tier() -> None:
    # The model is one lookup may use, the tier and queue in the header are not its own:
    # the model's tier wins (delivered on the Opus queue: forwarded to the Haiku one)
    wrong = state("lookup", queue="llm.opus", tier="opus")
    step = next_step(wrong, Arrived(0.0, "llm.opus"), ctx("lookup"))
    assert isinstance(step, Hop) and step.kind == "forward"
    assert (step.state.tier, step.state.queue) == ("haiku", DESIGN_ROUTES["lookup"][1])


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "claude-sonnet-4-6"])
def test_what_a_key_may_use_is_honoured(model: str) -> None:
    # a fallback of classification, and the model of its escalation target
    r = router()
    tier = r.config.models[model].tier
    escalated = model != "gemini-2.5-pro"
    ok = state("classification", r, route_key="orchestration" if escalated else "classification",
               model=model, tier=tier, queue=f"llm.{tier}",
               escalated_from=(HAIKU,) if escalated else (),
               fallback_from=() if escalated else (HAIKU,))
    assert next_step(ok, Arrived(0.0), ctx("classification", r)) == Call(ok)


def test_a_fresh_header_is_routed_again_when_the_exact_size_routes_elsewhere() -> None:
    # code_review sent with an estimate under the 50k rule; its exact input is over it
    r = router()
    sent = state("code_review", r)
    assert sent.model == SONNET
    step = next_step(sent, Arrived(0.0), ctx("code_review", r, tokens=60_000))
    assert isinstance(step, Hop) and step.kind == "reroute"
    assert (step.state.model, step.state.rule) == ("kimi-for-coding", "large_context_to_kimi")
    assert "exact size (60000 tokens)" in step.reason
    # routed under an older config: runs as routed (a live change applies to new sends)
    older = replace(sent, config_version=sent.config_version - 1)
    assert next_step(older, Arrived(0.0), ctx("code_review", r, tokens=60_000)) == Call(older)
    # and the same state after a call (a retry on its model) is not routed again
    retried = replace(sent, calls=1, attempt=1)
    assert next_step(retried, Arrived(0.0), ctx("code_review", r, tokens=60_000)) == Call(retried)


def test_a_fresh_header_naming_another_allowed_model_follows_the_config() -> None:
    # a header no fallback produced (none recorded) naming classification's fallback
    r = router()
    fresh = state("classification", r, model="gemini-2.5-pro", tier="sonnet",
                  queue="llm.sonnet")
    step = next_step(fresh, Arrived(0.0), ctx("classification", r))
    assert isinstance(step, Hop) and step.kind == "reroute"
    assert step.state.model == r.config.model_keys["classification"].model


@pytest.mark.parametrize(("route_key", "escalated_from", "problem"), [
    # the end of lookup's chain, with no escalation recorded: skips to Opus
    ("strategic_decision", (), "escalation step 2 of 'lookup', the header records 0"),
    # one escalation recorded, two steps claimed
    ("strategic_decision", (HAIKU,), "the header records 1"),
    # two escalations, but the first from a model lookup never uses
    ("strategic_decision", ("claude-opus-4-6", SONNET), "escalated from claude-opus-4-6"),
])
def test_a_forged_escalation_is_not_honoured(
    route_key: str, escalated_from: tuple[str, ...], problem: str
) -> None:
    r = router()
    chain = ["lookup", r.config.model_keys["lookup"].escalate_to]
    assert chain[1] is not None and r.config.model_keys[chain[1]].escalate_to == route_key
    forged = state("lookup", r, route_key=route_key, model="claude-opus-4-6", tier="opus",
                   queue="llm.opus", escalated_from=escalated_from)
    step = next_step(forged, Arrived(0.0), ctx("lookup", r))
    assert isinstance(step, Hop) and step.kind == "reroute", step
    assert (step.state.model, step.state.queue) == DESIGN_ROUTES["lookup"]
    assert problem in step.reason


def test_an_honest_escalation_along_the_chain_runs() -> None:
    # lookup escalated twice (its model, then its target's): runs at the chain's end
    r = router()
    middle = r.config.model_keys["lookup"].escalate_to
    assert middle is not None
    end = r.config.model_keys[middle].escalate_to
    assert end is not None
    end_model = r.config.model_keys[end].model
    tier = r.config.models[end_model].tier
    s = state("lookup", r, route_key=end, model=end_model, tier=tier,
              queue=r.config.tiers[tier].queue,
              escalated_from=(HAIKU, r.config.model_keys[middle].model))
    assert next_step(s, Arrived(0.0), ctx("lookup", r)) == Call(s)


@pytest.mark.parametrize(("raw", "problem"), [
    ({"model": "x"}, "model_key: expected a name"),
    ({**{k: "x" for k in ("model_key", "route_key", "model", "tier", "queue", "rule")},
      "config_version": 1, "attempt": -1}, "attempt: expected an integer in [0, 1000]"),
    ({**{k: "x" for k in ("model_key", "route_key", "model", "tier", "queue", "rule")},
      "config_version": 1, "calls": True}, "calls: expected an integer"),
    ({**{k: "x" for k in ("model_key", "route_key", "model", "tier", "queue", "rule")},
      "config_version": 1, "sent_at": float("nan")}, "sent_at"),
    ("opus please", "not an object"),
])
def test_malformed_headers_are_named(raw: Any, problem: str) -> None:
    with pytest.raises(BadRouteHeader, match=re.escape(problem)):
        RouteState.from_headers({ROUTE_HEADER: raw})


_NAMES = st.sampled_from(["lookup", "classification", "orchestration", "claude-opus-4-6",
                          "claude-haiku-4-5", "gemini-2.5-pro", "haiku", "opus", "llm.haiku",
                          "llm.opus", "default", "", "x" * 300])
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13),
                    st.floats(allow_nan=True, allow_infinity=True), _NAMES,
                    st.lists(_NAMES, max_size=3),
                    st.lists(st.dictionaries(_NAMES, _NAMES, max_size=2), max_size=2))
_FIELDS = st.sampled_from([*RouteState.__dataclass_fields__, "extra"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(changes=st.dictionaries(_FIELDS, _VALUES, max_size=6))
def test_any_route_header_is_refused_by_name_or_runs_only_what_the_key_may_use(
    changes: dict[str, Any]
) -> None:
    # Given any header a producer could write (a real one, changed in any way)
    raw = {**state("lookup").header(), **changes}
    try:
        parsed = RouteState.from_headers({ROUTE_HEADER: raw})
    except BadRouteHeader as exc:
        assert str(exc)  # refused, naming what is wrong
        return
    assert parsed is not None
    # Then the task either calls a model lookup may use, on that model's tier and queue,
    # or is routed again (and says why); never anything else
    r = router()
    step = next_step(parsed, Arrived(0.0), ctx("lookup", r))
    if isinstance(step, Call):
        model = step.state.model
        assert model in allowed_models(r.config, step.state.route_key)
        assert step.state.model_key == "lookup"
        # reached by as many escalations as recorded (none skipped)
        chain = ["lookup"]
        while chain[-1] != step.state.route_key:
            nxt = r.config.model_keys[chain[-1]].escalate_to
            assert nxt is not None
            chain.append(nxt)
        assert len(chain) - 1 == len(step.state.escalated_from) <= RETRY.max_escalations
        assert step.state.queue == r.config.tiers[r.config.models[model].tier].queue
    else:
        assert isinstance(step, Hop) and step.kind in ("reroute", "forward")
        assert step.state.model in allowed_models(r.config, "lookup")
