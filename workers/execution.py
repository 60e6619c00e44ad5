"""Running one LLM task on a worker: the routed model, with retries, fallbacks,
escalation and budgets, each hop re-published under the same task id.

The task is thin (`tasks/`); this module owns the policy:
- an unrouted message (a foreign producer's `send_task` to the default queue) is routed
  and forwarded to its tier's queue;
- a model removed from the config since the message was routed is routed again;
- a model in cooldown (after a 429 anywhere) is waited for, or skipped for a fallback;
- a budget with no room defers, downgrades or rejects, as the model key's policy says;
- rate limited: retry after the provider's retry-after plus jitter, cooldown for all;
  overloaded/transient: exponential backoff with jitter, then the next fallback model
  (on its own tier's queue); permanent: fail at once;
- output that fails validation escalates to the key's escalation target, bounded.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Ignore

from routing.config import BudgetPolicy, RoutingConfig
from routing.errors import BudgetExceededError, PromptTooLargeError, UnknownModelKeyError
from routing.pricing import Usage, cost_micros, usd, worst_case_micros
from routing.router import Decision, Router
from tasks.spec import Call, OutputInvalid, WorkSpec
from workers.accounting import Accounting, CallRecord
from workers.errors import (
    AllModelsFailedError,
    BudgetRejectedError,
    OutputInvalidError,
    ProviderRefusedError,
    TaskInputError,
)
from workers.providers.base import Completion, CompletionRequest
from workers.providers.errors import (
    MissingKeyError,
    PermanentError,
    ProviderError,
    RateLimitedError,
)
from workers.route_state import ROUTE_HEADER, RouteState
from workers.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

DEFERRED = "DEFERRED"


def execute(task: Task[Any, Any], spec: WorkSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
    return Execution(task, spec, kwargs, get_runtime()).run()


def route(router: Router, call: Call) -> Decision:
    try:
        return router.decide(call.model_key, call.input_tokens)
    except UnknownModelKeyError as exc:
        raise TaskInputError(f"model_key: {exc}") from None
    except PromptTooLargeError as exc:
        raise TaskInputError(str(exc)) from None


class Execution:
    def __init__(
        self, task: Task[Any, Any], spec: WorkSpec, kwargs: dict[str, Any], rt: Runtime
    ) -> None:
        self.task = task
        self.spec = spec
        self.rt = rt
        self.settings = rt.settings
        self.kwargs = kwargs
        self.router = rt.router
        self.call = spec.parse(kwargs, self.router.config)
        self.task_id = str(task.request.id)

    # -- hops: every one re-publishes the same task id and ends this execution --------

    def _hop(self, state: RouteState, countdown: float = 0.0) -> NoReturn:
        headers = {**(self.task.request.headers or {}), ROUTE_HEADER: state.header()}
        sig = self.task.signature_from_request(queue=state.queue, headers=headers)
        if countdown > 0:
            sig.apply_async(countdown=countdown)
        else:
            sig.apply_async()
        raise Ignore()

    def _defer(
        self, accounting: Accounting, state: RouteState, exc: BudgetExceededError
    ) -> NoReturn:
        due = accounting.resets_at_ts(exc)
        state = replace(state, deferrals=state.deferrals + 1)
        headers = {**(self.task.request.headers or {}), ROUTE_HEADER: state.header()}
        sig = self.task.signature_from_request(queue=state.queue, headers=headers)
        self.rt.deferred.park(dict(sig), due)
        accounting.refused(state, exc, deferred=True)
        self.task.update_state(
            state=DEFERRED,
            meta={"budget": exc.budget, "resets_at": exc.resets_at, "model": state.model},
        )
        log.info("task %s deferred until %s: %s", self.task_id, exc.resets_at, exc)
        raise Ignore()

    # -- the run ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        router = self.router
        state = RouteState.from_headers(self.task.request.headers)
        if state is None:  # not routed at send time: route now, run on the tier's queue
            self._hop(RouteState.initial(route(router, self.call)))
        cfg = router.config
        if state.model not in cfg.models or state.route_key not in cfg.model_keys:
            state = state.moved_to(route(router, self.call), rerouted=True)
            if state.queue != self._current_queue():
                self._hop(state)
        wait = self.rt.cooldowns.remaining(state.model)
        if wait > 0:
            if wait <= self.settings.retry_max_delay:
                self._hop(state, wait + random.uniform(0, 0.25))
            self._fallback(cfg, router, state, f"{state.model} is cooling down for {wait:.0f}s")
        return self._call(cfg, router, state)

    def _current_queue(self) -> str:
        info = self.task.request.delivery_info or {}
        return str(info.get("routing_key") or "")

    def _max_tokens(self, cfg: RoutingConfig, state: RouteState) -> int:
        return self.call.max_tokens or cfg.model_keys[state.model_key].max_tokens

    def _call(self, cfg: RoutingConfig, router: Router, state: RouteState) -> dict[str, Any]:
        model = cfg.models[state.model]
        price = cfg.price_of(state.model)
        max_tokens = self._max_tokens(cfg, state)
        worst = worst_case_micros(self.call.input_tokens, max_tokens, price)
        accounting = Accounting(self.rt, self.task_id, cfg)
        try:
            reservation = accounting.reserve(cfg, state, worst)
        except BudgetExceededError as exc:
            self._over_budget(accounting, router, state, exc)
        request = CompletionRequest(
            model=model.provider_model,
            messages=self.call.messages,
            max_tokens=max_tokens,
            system=self.call.system,
            cache_system=cfg.model_keys[state.route_key].prompt_cache,
            timeout=min(self.settings.request_timeout, cfg.tiers[model.tier].task_timeout_seconds),
        )
        try:
            completion = self.rt.providers.for_model(model).complete(request)
        except ProviderError as exc:
            accounting.settle(reservation, CallRecord(state, Usage(), 0, type(exc).__name__))
            self._failed(cfg, router, state.after_call(0, failed=True), exc)
        cost = cost_micros(completion.usage, price)
        accounting.settle(reservation, CallRecord(state, completion.usage, cost, "ok"))
        state = state.after_call(cost, failed=False)
        try:
            output = self.spec.parse_output(completion.text, self.kwargs, cfg)
        except OutputInvalid as exc:
            self._escalate(cfg, router, state, str(exc))
        return self._result(state, completion, cost, output)

    # -- what to do when things go wrong ----------------------------------------------

    def _failed(
        self, cfg: RoutingConfig, router: Router, state: RouteState, exc: ProviderError
    ) -> NoReturn:
        s = self.settings
        if isinstance(exc, RateLimitedError):
            wait = exc.retry_after if exc.retry_after is not None else s.retry_base_delay
            self.rt.cooldowns.start(state.model, wait)
            if wait <= s.retry_max_delay and state.attempt < s.attempts_per_model:
                self._hop(state, wait + random.uniform(0, min(1.0, 0.1 * wait + 0.05)))
        elif isinstance(exc, MissingKeyError):
            pass  # this provider cannot be called at all: try the next model now
        elif isinstance(exc, PermanentError):
            raise ProviderRefusedError(f"{state.model}: {exc}") from None
        elif state.attempt < s.attempts_per_model:
            delay = min(s.retry_max_delay, s.retry_base_delay * 2 ** (state.attempt - 1))
            self._hop(state, delay / 2 + random.uniform(0, delay / 2))
        self._fallback(cfg, router, state, f"{state.model}: {exc}")

    def _fallback(
        self, cfg: RoutingConfig, router: Router, state: RouteState, reason: str
    ) -> NoReturn:
        spec = cfg.model_keys[state.route_key]
        tried = {*state.tried, state.model}
        need = self.call.input_tokens + self._max_tokens(cfg, state)
        for model in (spec.model, *spec.fallbacks):
            if model in tried or model not in cfg.models:
                continue
            if need > cfg.models[model].context_window:
                continue
            decision = router.for_model(state.route_key, model, "fallback")
            log.warning("task %s: falling back to %s (%s)", self.task.request.id, model, reason)
            self._hop(
                state.moved_to(
                    decision,
                    fallback_from=(*state.fallback_from, state.model),
                    tried=tuple(tried),
                )
            )
        raise AllModelsFailedError(
            f"{state.model_key}: every model failed (tried {', '.join(sorted(tried))}); "
            f"last error: {reason}"
        )

    def _escalate(
        self, cfg: RoutingConfig, router: Router, state: RouteState, reason: str
    ) -> NoReturn:
        target = cfg.model_keys[state.route_key].escalate_to
        if target is None or len(state.escalated_from) >= self.settings.max_escalations:
            raise OutputInvalidError(
                f"{state.model_key}: output of {state.model} failed validation and no "
                f"escalation is left ({reason})"
            )
        decision = router.decide(target, self.call.input_tokens)
        log.info("task %s: escalating %s -> %s (%s)", self.task.request.id, state.model,
                 decision.model, reason)
        self._hop(state.moved_to(decision, escalated_from=(*state.escalated_from, state.model),
                                 tried=()))

    def _over_budget(
        self, accounting: Accounting, router: Router, state: RouteState, exc: BudgetExceededError
    ) -> NoReturn:
        spec = router.config.model_keys[state.model_key]
        policy = spec.on_budget_exceeded
        target = spec.downgrade_to
        if (policy is BudgetPolicy.downgrade and target and state.downgraded_from is None
                and target != state.model):
            decision = router.for_model(state.route_key, target, "budget_downgrade")
            self._hop(state.moved_to(decision, downgraded_from=state.model))
        if policy is BudgetPolicy.reject:
            accounting.refused(state, exc, deferred=False)
            raise BudgetRejectedError(str(exc)) from None
        self._defer(accounting, state, exc)

    # -- the result -------------------------------------------------------------------

    def _result(
        self, state: RouteState, completion: Completion, cost: int, output: dict[str, Any]
    ) -> dict[str, Any]:
        # The routing facts first and the text last: Flower (task events) shows a result
        # as its repr cut at 1,024 characters, and a long answer must not hide them.
        result: dict[str, Any] = {
            "model": state.model,
            "model_key": state.model_key,
            "tier": state.tier,
            # The queue this message was actually delivered from (its delivery info).
            "queue": self._current_queue() or state.queue,
            "rule": state.rule,
            "usage": completion.usage.as_dict(),
            "cost_usd": usd(state.cost_micros),
            "cost_micros": state.cost_micros,
            "last_call_cost_micros": cost,
            "config_version": state.config_version,
            "attempts": state.calls,
            "provider_mode": completion.mode,
            "request_id": completion.request_id,
            "latency_s": round(completion.latency_s, 4),
            "task_id": self.task.request.id,
        }
        if state.fallback_from:
            result["fallback_from"] = list(state.fallback_from)
        if state.escalated_from:
            result["escalated_from"] = list(state.escalated_from)
        if state.rerouted:
            result["rerouted"] = True
        if state.downgraded_from:
            result["downgraded_from"] = state.downgraded_from
        if state.deferrals:
            result["deferrals"] = state.deferrals
        result["text"] = completion.text
        if output:
            result["output"] = output
        return result
