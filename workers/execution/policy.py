"""The execution policy: what to do next with an LLM task, as a pure function.

`next_step(state, event, ctx)` takes the task's route state (None before it was routed),
what just happened and the context (the router of one config version, the call's size,
the retry settings, a jitter source) and returns the next step. No I/O, no Celery, no
clock: the Celery side (`workers.execution.runner`) reads the facts (a cooldown, a budget
refusal, a provider error), asks, and carries the step out.

Events and what they lead to:
- `Unrouted` (a foreign producer's `send_task` on the default queue, or a message whose
  route header was refused: not sealed by this deployment): route, `Hop` there.
- `Arrived`: the routed model left the config -> route again (`Hop`, rerouted); the task
  was delivered on another queue than its routed one (a producer's explicit
  `apply_async(queue=...)`) -> `Hop` to the routed queue (forward: the routing config
  wins); the model is cooling down after a 429 anywhere -> wait for it (`Hop` with a
  delay) if that is short, else fall back; otherwise `Call`.
- `BudgetRefused`: the refusing budget's policy (an agent's budget has its own, else the
  model key's): `downgrade` (`Hop` to the key's cheaper model, once), `reject` (`Fail`),
  `defer` (`Defer` until the window resets).
- `ProviderFailed`: rate limited -> retry after the provider's retry-after plus jitter
  and cool the model down for everyone; overloaded/transient -> exponential backoff with
  jitter; after `attempts_per_model` attempts (or a missing key) -> the next fallback
  model that can hold the input; permanent -> `Fail`.
- `OutputRejected` (the model's output failed validation): escalate to the key's
  `escalate_to`, bounded by `max_escalations`; else `Fail`.
A successful call ends the task in the runner: the policy has nothing to decide then.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, assert_never

from routing.config.kinds import BudgetPolicy, Capability
from routing.config.models import RoutingConfig
from routing.errors import (
    BudgetExceededError,
    NoCapableModelError,
    PromptTooLargeError,
    RoutingError,
    UnknownModelKeyError,
)
from routing.router import Decision, Router, lacking
from workers.errors import (
    AllModelsFailedError,
    BudgetRejectedError,
    OutputInvalidError,
    ProviderRefusedError,
    TaskError,
    TaskInputError,
)
from workers.execution.route_state import RouteState
from workers.providers.errors import (
    MissingKeyError,
    PermanentError,
    ProviderError,
    RateLimitedError,
)
from workers.settings import Settings

# -- what happened ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unrouted:
    """The message carries no route (it was sent by name to the default queue), or one
    that was refused (not sealed by this deployment): it is routed as if new."""


@dataclass(frozen=True, slots=True)
class Arrived:
    """The task is about to call its model; `cooldown_s` is what is left of that model's
    cooldown (0 when none); `queue` is the queue it was delivered on (None: unknown, or
    the routed one, as after a hop followed in place)."""

    cooldown_s: float = 0.0
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetRefused:
    error: BudgetExceededError


@dataclass(frozen=True, slots=True)
class ProviderFailed:
    """The call failed; the state already counts the failed attempt."""

    error: ProviderError


@dataclass(frozen=True, slots=True)
class OutputRejected:
    reason: str


Event = Unrouted | Arrived | BudgetRefused | ProviderFailed | OutputRejected

# -- what to do next -------------------------------------------------------------------

HopKind = Literal[
    "route", "reroute", "forward", "wait", "retry", "fallback", "escalate", "downgrade"
]
# (A model passed over for lacking a capability the call needs is recorded in the state's
# hops as kind "skip", next to the move that passed it over.)


@dataclass(frozen=True, slots=True)
class Call:
    """Call `state.model` now."""

    state: RouteState


@dataclass(frozen=True, slots=True)
class Hop:
    """Run the same task (same id) on `state` (its model and queue) after `delay` seconds.

    `cooldown` asks to hold off a model for everyone first: (model, seconds).
    """

    state: RouteState
    kind: HopKind
    reason: str
    delay: float = 0.0
    cooldown: tuple[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Defer:
    """Park the task until its budget window resets (`error.resets_at`)."""

    state: RouteState
    error: BudgetExceededError


@dataclass(frozen=True, slots=True)
class Fail:
    """Fail the task with `error` (nothing is retried)."""

    error: TaskError
    # Set when the failure is a budget refusal (it is counted in the ledger).
    refusal: BudgetExceededError | None = None


Step = Call | Hop | Defer | Fail

# -- the context -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: float = 2.0
    max_delay: float = 60.0
    attempts_per_model: int = 3
    max_escalations: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.retry_base_delay, settings.retry_max_delay,
                   settings.attempts_per_model, settings.max_escalations)


@dataclass(frozen=True, slots=True)
class Context:
    """Everything but the state and the event that the policy decides by."""

    router: Router  # the routing config of one version, compiled
    model_key: str  # what the caller asked for
    input_tokens: int  # the call's estimated input size
    max_tokens: int | None  # what the caller asked for (None: the model key's default)
    retry: RetryPolicy = RetryPolicy()
    # What the call needs of its model (`Call.needs`): models without it are skipped.
    needs: frozenset[Capability] = frozenset()
    jitter: Callable[[float, float], float] = random.uniform

    @property
    def config(self) -> RoutingConfig:
        return self.router.config

    def max_tokens_for(self, state: RouteState) -> int:
        return self.max_tokens or self.config.model_keys[state.model_key].max_tokens


def route(ctx: Context) -> Decision:
    """The decision for the call, or `TaskInputError` naming what the caller must fix."""
    try:
        return ctx.router.decide(ctx.model_key, ctx.input_tokens, ctx.needs)
    except UnknownModelKeyError as exc:
        raise TaskInputError(f"model_key: {exc}") from None
    except (PromptTooLargeError, NoCapableModelError) as exc:
        raise TaskInputError(str(exc)) from None


def next_step(state: RouteState | None, event: Event, ctx: Context) -> Step:
    """The next step of a task in `state` after `event` (see the module docstring)."""
    if isinstance(event, Unrouted) or state is None:
        try:
            decision = route(ctx)
        except TaskInputError as exc:
            return Fail(exc)
        return Hop(RouteState.initial(decision), "route", "sent by name: routed on arrival")
    if isinstance(event, Arrived):
        return _arrived(state, event, ctx)
    if isinstance(event, BudgetRefused):
        return _over_budget(state, event.error, ctx)
    if isinstance(event, ProviderFailed):
        return _failed(state, event.error, ctx)
    if isinstance(event, OutputRejected):
        return _escalate(state, event.reason, ctx)
    assert_never(event)


def unroutable(state: RouteState, ctx: Context) -> str | None:
    """Why `state` may not run as it says under the current config (None: it may).

    A route header is honoured only for the task's own model key, on a model that key may
    use: its model, a fallback, a rule's target, its budget downgrade, or the same for a
    key of its escalation chain reached by as many escalations as the header records, each
    from a model of the previous key (and then on that model's tier, whatever queue it
    names).
    """
    cfg = ctx.config
    if state.model_key != ctx.model_key:
        return f"it names model key '{state.model_key}', the task is for '{ctx.model_key}'"
    if state.model not in cfg.models or state.route_key not in cfg.model_keys:
        return f"{state.model} is not routable under config version {cfg.version}"
    chain, key = [ctx.model_key], cfg.model_keys.get(ctx.model_key)
    while key is not None and key.escalate_to is not None and key.escalate_to not in chain:
        chain.append(key.escalate_to)
        key = cfg.model_keys.get(key.escalate_to)
    if state.route_key not in chain:
        return f"'{state.route_key}' is not in the escalation chain of '{ctx.model_key}'"
    # An escalated state is one step along the chain per model whose output was refused,
    # each a model of its step's key: a header cannot skip to the chain's end.
    step = chain.index(state.route_key)
    if step != len(state.escalated_from) or step > ctx.retry.max_escalations:
        return (f"'{state.route_key}' is escalation step {step} of '{ctx.model_key}', the "
                f"header records {len(state.escalated_from)} escalation(s) "
                f"(at most {ctx.retry.max_escalations})")
    for i, model in enumerate(state.escalated_from):
        if model not in allowed_models(cfg, chain[i]):
            return f"escalated from {model}, not a model '{chain[i]}' may use"
    if state.model not in allowed_models(cfg, state.route_key):
        return f"{state.model} is not a model '{state.route_key}' may use"
    return None


def allowed_models(cfg: RoutingConfig, key: str) -> frozenset[str]:
    spec = cfg.model_keys[key]
    rules = {r.model for r in cfg.rules if key in r.model_keys}
    extra = {spec.downgrade_to} if spec.downgrade_to else set()
    return frozenset({spec.model, *spec.fallbacks, *rules, *extra})


def _arrived(state: RouteState, event: Arrived, ctx: Context) -> Step:
    cfg = ctx.config
    problem = unroutable(state, ctx)
    if problem is not None:
        try:
            decision = route(ctx)
        except TaskInputError as exc:
            return Fail(exc)
        reason = f"route header not honoured: {problem}"
        if state.model_key == ctx.model_key:  # the task's own state: keep its counts
            moved = state.moved_to(decision, rerouted=True)
        else:  # someone else's (or a forged) state: start afresh
            moved = replace(RouteState.initial(decision, state.sent_at), rerouted=True)
        return Hop(moved.hopped("reroute", state, reason), "reroute", reason)
    lacks = lacking(cfg, state.model, ctx.needs)
    if lacks is not None or (_fresh(state) and state.config_version == cfg.version):
        # As routed at send time, under this config, from an estimate of the input's size
        # (a typed task's system prompt is not in it) and without what the call needs
        # (tools, images): the exact size may route elsewhere (a rule's threshold, a
        # context window), and so may a capability. A task routed under an older config
        # runs as routed while its model is one the key may use and supports what the
        # call needs (a live change applies to what is sent after it; queued work is not
        # re-published).
        try:
            decision = route(ctx)
        except TaskInputError as exc:
            return Fail(exc)
        if decision.model != state.model:
            reason = (f"{state.model} {lacks}: routed again for what the call needs"
                      if lacks is not None else
                      f"routed again on arrival by the input's exact size ({ctx.input_tokens} "
                      f"tokens): {decision.rule}")
            moved = state.moved_to(decision, rerouted=True)
            return Hop(moved.hopped("reroute", state, reason).with_hops(decision.skip_hops()),
                       "reroute", reason)
    tier = cfg.models[state.model].tier
    if (tier, cfg.tiers[tier].queue) != (state.tier, state.queue):
        # The model runs on another tier than the header says (it moved since the task
        # was routed, or the header was wrong): its queue now
        state = replace(state, tier=tier, queue=cfg.tiers[tier].queue)
    if event.queue is not None and event.queue != state.queue:
        return Hop(state, "forward",
                   f"delivered on {event.queue}, routed to {state.queue} (the routing wins)")
    cooldown_s = event.cooldown_s
    if cooldown_s > 0:
        if cooldown_s <= ctx.retry.max_delay:
            return Hop(state, "wait", f"{state.model} is cooling down for {cooldown_s:.1f}s",
                       delay=cooldown_s + ctx.jitter(0, 0.25))
        return _fallback(state, f"{state.model} is cooling down for {cooldown_s:.0f}s", ctx)
    return Call(state)


def _fresh(state: RouteState) -> bool:
    """As the send-time router left it: no call, move, deferral or re-route since."""
    return not (state.calls or state.hops or state.rerouted or state.deferrals
                or state.fallback_from or state.escalated_from or state.downgraded_from
                or state.tried)


def _failed(state: RouteState, exc: ProviderError, ctx: Context) -> Step:
    r = ctx.retry
    if isinstance(exc, RateLimitedError):
        wait = exc.retry_after if exc.retry_after is not None else r.base_delay
        cooldown = (state.model, wait)
        if wait <= r.max_delay and state.attempt < r.attempts_per_model:
            return Hop(state, "retry", f"{state.model}: {exc}", cooldown=cooldown,
                       delay=wait + ctx.jitter(0, min(1.0, 0.1 * wait + 0.05)))
        return _fallback(state, f"{state.model}: {exc}", ctx, cooldown=cooldown)
    if isinstance(exc, MissingKeyError):
        # This provider cannot be called at all: the next model now.
        return _fallback(state, f"{state.model}: {exc}", ctx)
    if isinstance(exc, PermanentError):
        return Fail(ProviderRefusedError(f"{state.model}: {exc}"))
    if state.attempt < r.attempts_per_model:
        delay = min(r.max_delay, r.base_delay * 2 ** (state.attempt - 1))
        return Hop(state, "retry", f"{state.model}: {exc}",
                   delay=delay / 2 + ctx.jitter(0, delay / 2))
    return _fallback(state, f"{state.model}: {exc}", ctx)


def _fallback(
    state: RouteState, reason: str, ctx: Context, *, cooldown: tuple[str, float] | None = None
) -> Hop | Fail:
    cfg = ctx.config
    spec = cfg.model_keys[state.route_key]
    tried = {*state.tried, state.model}
    need = ctx.input_tokens + ctx.max_tokens_for(state)
    skipped: list[tuple[str, str]] = []
    for model in (spec.model, *spec.fallbacks):
        if model in tried or model not in cfg.models:
            continue
        lacks = lacking(cfg, model, ctx.needs)
        if lacks is not None:
            skipped.append((model, lacks))
            continue
        if need > cfg.models[model].context_window:
            continue
        decision = ctx.router.for_model(state.route_key, model, "fallback")
        moved = state.moved_to(decision, fallback_from=(*state.fallback_from, state.model),
                               tried=tuple(sorted(tried)))
        skips = replace(decision, skipped=tuple(skipped)).skip_hops()
        return Hop(moved.hopped("fallback", state, reason).with_hops(skips), "fallback",
                   reason, cooldown=cooldown)
    return Fail(AllModelsFailedError(
        f"{state.model_key}: every model failed (tried {', '.join(sorted(tried))}); "
        f"last error: {reason}"
    ))


def _escalate(state: RouteState, reason: str, ctx: Context) -> Hop | Fail:
    target = ctx.config.model_keys[state.route_key].escalate_to
    if target is None or len(state.escalated_from) >= ctx.retry.max_escalations:
        return Fail(OutputInvalidError(
            f"{state.model_key}: output of {state.model} failed validation and no "
            f"escalation is left ({reason})"
        ))
    try:
        decision = ctx.router.decide(target, ctx.input_tokens, ctx.needs)
    except RoutingError as exc:
        return Fail(OutputInvalidError(
            f"{state.model_key}: output of {state.model} failed validation ({reason}) and "
            f"the escalation target '{target}' cannot take it: {exc}"
        ))
    moved = state.moved_to(decision, escalated_from=(*state.escalated_from, state.model),
                           tried=())
    return Hop(moved.hopped("escalate", state, reason).with_hops(decision.skip_hops()),
               "escalate", reason)


def _over_budget(state: RouteState, exc: BudgetExceededError, ctx: Context) -> Hop | Defer | Fail:
    spec = ctx.config.model_keys[state.model_key]
    target = spec.downgrade_to
    # (A downgrade model that lacks what the call needs is no way out: the key defers.)
    policy = policy_for(ctx.config, spec.on_budget_exceeded, exc.budget)
    if (policy is BudgetPolicy.downgrade and target
            and state.downgraded_from is None and target != state.model
            and lacking(ctx.config, target, ctx.needs) is None):
        decision = ctx.router.for_model(state.route_key, target, "budget_downgrade")
        moved = state.moved_to(decision, downgraded_from=state.model)
        return Hop(moved.hopped("downgrade", state, str(exc)), "downgrade", str(exc))
    if policy is BudgetPolicy.reject:
        return Fail(BudgetRejectedError(str(exc)), refusal=exc)
    return Defer(replace(state, deferrals=state.deferrals + 1), exc)


def policy_for(cfg: RoutingConfig, key_policy: BudgetPolicy, budget: str) -> BudgetPolicy:
    """The policy of the budget that refused: an agent's own (`budgets.agents.<agent>`),
    else the model key's. (An agent's `downgrade` moves to the key's `downgrade_to`; a key
    without one defers.)"""
    if budget.startswith("agent:"):
        agent = cfg.budgets.agents.get(budget.removeprefix("agent:"))
        if agent is not None:
            return agent.on_budget_exceeded
    return key_policy
