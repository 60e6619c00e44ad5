"""The Celery side of execution: run one LLM task on a worker, carrying out the policy.

`execute(task, spec, kwargs)` parses the input (once), then asks the pure policy
(`workers.execution.policy.next_step`) what to do and does it:
- `Call`: reserve the worst case in the budgets, call the provider, settle the real cost
  in the ledger, validate the output; what happened goes back to the policy;
- `Hop` (route, re-route, forward, wait, retry, fall back, escalate, downgrade): when it is due now
  and its queue is one this worker consumes, the task goes on here, in place (same task
  id, no re-publish); otherwise it is re-published under the same task id on the queue
  (with a countdown: whole seconds, rounded up, on RabbitMQ), its state set to `QUEUED`,
  and this execution ends (`Ignore`);
- `Defer`: park the task in Redis until the budget window resets (state `DEFERRED`);
- `Fail`: raise the task error; a successful call returns the result.

A call of a model key with `batch` (on a model with a batch API) is not made: its worst
case at the batch rate is reserved and it is stored in its model's open provider batch
(`workers.execution.batch_calls`); the message is acknowledged and the task stays
started. When the batch is over its answer comes back on the task's own message (header
`BATCH_HEADER`) and the task carries on from there (`workers.execution.batch_policy`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import replace
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Ignore
from kombu.transport.native_delayed_delivery import MAX_NUMBER_OF_BITS_TO_USE

from routing.attribution import split as split_attribution
from routing.batches.store import TaskRecord
from routing.config.batch import BatchSpec
from routing.config.load import read_price
from routing.config.models import RoutingConfig
from routing.config.price import Price
from routing.errors import BudgetExceededError, RunBudgetExceededError
from routing.prices.pricing import Usage, cost_micros, worst_case_micros
from routing.router import Router
from routing.spend.budget import Reservation
from workers.attribution import attribution_of
from workers.contract import WorkSpec
from workers.errors import OutputInvalidError, RunBudgetExceeded
from workers.execution import announce, batch_calls, batch_policy
from workers.execution.accounting import Accounting
from workers.execution.batch_policy import BATCH_HEADER
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
    Step,
    Unrouted,
    next_step,
)
from workers.execution.results import task_result
from workers.execution.route_seal import UnsealedRouteHeader, open_route, seal
from workers.execution.route_state import ROUTE_HEADER, BadRouteHeader, RouteState
from workers.execution.runtime import Runtime, get_runtime
from workers.providers.base import Completion, CompletionRequest
from workers.providers.batch import read_outcome
from workers.providers.errors import ProviderError
from workers.settings import Settings

log = logging.getLogger(__name__)

DEFERRED = "DEFERRED"
# A task re-published to a queue (forwarded by the dispatcher, or a retry, fall back,
# escalation waiting for its worker): it waits there, not running, so its state says so
# (Celery marked it STARTED when this execution began). The next execution marks it
# STARTED again.
QUEUED = "QUEUED"
# Celery's native delayed delivery (RabbitMQ) routes a delayed message by its delay in
# binary digits, one word each, before its queue's routing key: `0.0.(...).1.1.llm.haiku`.
_DELAY_PREFIX = re.compile(rf"^(?:[01]\.){{{MAX_NUMBER_OF_BITS_TO_USE}}}")


def execute(task: Task[Any, Any], spec: WorkSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
    return Runner(task, spec, kwargs, get_runtime()).run()


def delivered_queue(task: Task[Any, Any]) -> str | None:
    """The queue `task`'s message came from (its routing key, without a delay prefix)."""
    key = (task.request.delivery_info or {}).get("routing_key")
    return _DELAY_PREFIX.sub("", str(key), count=1) if key else None


def countdown_of(delay: float, settings: Settings) -> float:
    """A hop's countdown. RabbitMQ's native delayed delivery counts whole seconds (Celery
    drops the fraction): rounded up there, so that a hop never runs early."""
    return float(math.ceil(delay)) if settings.broker_kind == "amqp" else delay


def dearest_call_micros(cfg: RoutingConfig) -> int:
    """The most one call can cost under `cfg`: a full context window and the most output,
    on the dearest model."""
    return max(worst_case_micros(m.context_window, m.max_output_tokens, cfg.price_of(name))
               for name, m in cfg.models.items())


def consumed_queues(task: Task[Any, Any]) -> frozenset[str]:
    """The queues the worker running `task` consumes (its app's selected queues)."""
    queues = task.app.amqp.queues
    selected = queues.consume_from
    return frozenset(selected if selected else queues)


class Runner:
    def __init__(
        self, task: Task[Any, Any], spec: WorkSpec, kwargs: dict[str, Any], rt: Runtime
    ) -> None:
        self.task = task
        self.spec = spec
        self.kwargs = kwargs
        self.rt = rt
        self.router: Router = rt.router  # one config version for the whole execution
        # who asked (agent, run, tags): from the kwargs, else the message's headers
        self.attribution = attribution_of(task, spec, kwargs)
        self.call = spec.parse(split_attribution(kwargs)[0], self.router.config)
        self.ctx = Context(
            router=self.router,
            model_key=self.call.model_key,
            input_tokens=self.call.input_tokens,  # estimated once: the calls read it here
            max_tokens=self.call.max_tokens,
            retry=RetryPolicy.from_settings(rt.settings),
            needs=self.call.needs,
        )
        self.task_id = str(task.request.id)
        self.in_place = False  # a hop was followed here instead of re-published

    def run(self) -> dict[str, Any]:
        step: Step | dict[str, Any]
        state, refused = self._route_state()
        if state is None:  # sent by name (or its header refused): its end-to-end time starts now
            step = next_step(None, Unrouted(), self.ctx)
            if isinstance(step, Hop):
                step = replace(step, state=replace(step.state, sent_at=time.time()))
                if refused is not None:
                    self._refused_header(step.state, refused)
        else:
            delivered = delivered_queue(self.task)
            answered = self._batch_answer(state)
            step = answered if answered is not None else next_step(
                state, self._arrived(state, delivered), self.ctx)
        while True:
            if isinstance(step, dict):
                return step
            if isinstance(step, Call):
                state = step.state
                step = self._call(state)
            elif isinstance(step, Hop):
                step = self._hop(step, state)
            elif isinstance(step, Defer):
                self._defer(step)
            else:
                raise step.error

    # -- the route header -------------------------------------------------------------------

    def _route_state(self) -> tuple[RouteState | None, str | None]:
        """The message's route state when its header is this deployment's (sealed for this
        task by a key of LLM_ROUTER_HEADER_KEYS) and well-formed; else None, and why the
        header was refused (None: the message carries none, it was sent by name)."""
        settings = self.rt.settings
        try:
            state = open_route(self.task.request.headers, self.task_id,
                               settings.signing_keys, now=time.time(),
                               max_age=settings.result_expires_seconds)
        except UnsealedRouteHeader as exc:
            return None, str(exc)
        except BadRouteHeader:  # (sealed, so a bug of ours: its text is not logged either)
            return None, "malformed"
        if state is None:
            return None, None
        # The cost it carries was settled by this router's workers (it is sealed): bounded
        # all the same, by what its calls can have cost at most under this config.
        if state.cost_micros > state.calls * dearest_call_micros(self.router.config):
            return None, "cost out of bounds"
        return state, None

    def _refused_header(self, fresh: RouteState, why: str) -> None:
        """A refused route header: one warning (never the header's contents: a producer
        wrote them) and one count in the day's aggregates (`llm_router_route_headers_refused`);
        the task runs as if it were new."""
        log.warning("task %s: route header refused (%s): routed afresh as %s", self.task_id,
                    why, fresh.model_key)
        self.rt.ledger.count((fresh.model_key, fresh.model, fresh.tier),
                             {"route_headers_refused": 1})

    def _sealed(self, state: RouteState) -> dict[str, Any]:
        """`state`'s header, sealed for this task (a worker always has a key: lifecycle)."""
        return seal(state.header(), self.task_id, self.rt.settings.signing_keys[0])

    # -- steps ----------------------------------------------------------------------------

    def _arrived(self, state: RouteState, queue: str | None) -> Arrived:
        return Arrived(self.rt.cooldowns.remaining(state.model), queue)

    def _hop(self, hop: Hop, origin: RouteState | None) -> Step:
        if hop.cooldown is not None:
            self.rt.cooldowns.start(*hop.cooldown)
        if hop.kind in ("fallback", "escalate", "reroute", "forward"):
            log.info("task %s: %s to %s (%s)", self.task_id, hop.kind, hop.state.model,
                     hop.reason)
        if origin is not None and hop.kind in ("fallback", "escalate"):
            # the evidence of how often a key's model is not enough (or not there)
            metric = "fallbacks_out" if hop.kind == "fallback" else "escalations_out"
            self.rt.ledger.count((origin.model_key, origin.model, origin.tier), {metric: 1})
        if hop.delay <= 0 and hop.state.queue in consumed_queues(self.task):
            if hop.kind in ("route", "forward") and not self.in_place:
                # what the re-publish would have announced (Flower: the task's queue)
                announce.sent(self.task, hop.state.queue, self.kwargs)
            self.in_place = True
            return next_step(hop.state, self._arrived(hop.state, hop.state.queue), self.ctx)
        self._republish(hop.state, hop.delay)

    def _republish(self, state: RouteState, delay: float = 0.0) -> NoReturn:
        headers = {k: v for k, v in (self.task.request.headers or {}).items()
                   if k != BATCH_HEADER}
        headers[ROUTE_HEADER] = self._sealed(state)
        sig = self.task.signature_from_request(queue=state.queue, headers=headers)
        # before the publish: the worker that takes it must not find its STARTED overwritten
        self.task.update_state(state=QUEUED, meta={"queue": state.queue, "model": state.model,
                                                   "delay_s": max(0.0, delay)})
        if delay > 0:
            sig.apply_async(countdown=countdown_of(delay, self.rt.settings))
        else:
            sig.apply_async()
        raise Ignore()

    def _defer(self, step: Defer) -> NoReturn:
        state, exc = step.state, step.error
        headers = {**(self.task.request.headers or {}), ROUTE_HEADER: self._sealed(state)}
        sig = self.task.signature_from_request(queue=state.queue, headers=headers)
        self.rt.deferred.park(dict(sig), Accounting.resets_at_ts(exc))
        self._accounting().refused(state, exc, deferred=True)
        self.task.update_state(
            state=DEFERRED,
            meta={"budget": exc.budget, "resets_at": exc.resets_at, "model": state.model},
        )
        log.info("task %s deferred until %s: %s", self.task_id, exc.resets_at, exc)
        raise Ignore()

    def _accounting(self) -> Accounting:
        return Accounting(self.rt, self.task_id, self.router.config, self.attribution)

    def _reserve(self, accounting: Accounting, state: RouteState, worst: int, *,
                 call_id: str | None = None, ttl: float | None = None) -> Reservation | Step:
        """The call's reservation, or the policy's step when a budget has no room."""
        try:
            return accounting.reserve(self.router.config, state, worst, call_id=call_id,
                                      ttl=ttl)
        except RunBudgetExceededError as exc:  # the run's cap, or stopped: never retried
            log.info("task %s: %s", self.task_id, exc)
            return Fail(RunBudgetExceeded(str(exc)))
        except BudgetExceededError as exc:
            step = next_step(state, BudgetRefused(exc), self.ctx)
            if isinstance(step, Fail) and step.refusal is not None:
                accounting.refused(state, step.refusal, deferred=False)
            return step

    def _request(self, state: RouteState) -> CompletionRequest:
        cfg = self.router.config
        model = cfg.models[state.model]
        output = self.call.native_output(cfg, state.model)
        return CompletionRequest(
            model=model.provider_model,
            messages=self.call.messages,
            # Never above the called model's output limit (a fallback's may be smaller).
            max_tokens=min(self.ctx.max_tokens_for(state), model.max_output_tokens),
            system=self.call.system_for(native=output is not None),
            output=output,
            cache_system=cfg.model_keys[state.route_key].prompt_cache,
            timeout=min(self.rt.settings.request_timeout,
                        cfg.tiers[model.tier].task_timeout_seconds),
            tools=self.call.tools,
            tool_choice=self.call.tool_choice,
        )

    def _call(self, state: RouteState) -> Step | dict[str, Any]:
        cfg = self.router.config
        batch = cfg.batch_for(state.route_key, state.model)
        if batch is not None:
            record = self.rt.batches.record(self.task_id)
            if record is None:
                return self._enqueue(state, batch)
            if record.call == state.calls:  # this very call is in a batch
                if record.outcome is None:  # stored by an execution that was not acked
                    log.info("task %s: in a provider batch already", self.task_id)
                    raise Ignore()
                return self._from_batch(state, record.outcome, record)
            # (batched once already: every later call of the task is direct)
        model = cfg.models[state.model]
        price = cfg.price_of(state.model)
        request = self._request(state)
        accounting = self._accounting()
        held = self._reserve(accounting, state, worst_case_micros(
            self.ctx.input_tokens, request.max_tokens, price))
        if not isinstance(held, Reservation):
            return held
        try:
            completion = self.rt.providers.for_model(model).complete(request)
        except ProviderError as exc:
            accounting.settle(held, state, Usage(), 0, error=type(exc).__name__)
            return next_step(state.after_call(0, failed=True), ProviderFailed(exc), self.ctx)
        except BaseException as exc:  # a bug, or the worker stopping: never leave a hold
            accounting.settle(held, state, Usage(), 0, error=type(exc).__name__)
            raise
        return self._answered(state, held, completion, price, accounting=accounting)

    def _answered(self, state: RouteState, reservation: Reservation, completion: Completion,
                  price: Price, batch_id: str | None = None, *,
                  accounting: Accounting | None = None) -> Step | dict[str, Any]:
        """Price, settle and validate a call's completion (`batch_id`: from a batch, at the
        batch rate; its latency is the batch's, kept out of the provider latency;
        `accounting`: the one that reserved the call, if at hand)."""
        batched = batch_id is not None
        cost = cost_micros(completion.usage, price, batch=batched)
        extra: dict[str, Any] = {"latency_ms": None if batched else completion.latency_s * 1000}
        if batched:
            extra.update(batch_id=batch_id, direct_micros=cost_micros(completion.usage, price))
        if accounting is None:
            accounting = self._accounting()
        try:
            output = self.spec.parse_output(completion.text, self.call, self.router.config)
        except OutputInvalidError as exc:
            accounting.settle(reservation, state, completion.usage, cost, invalid=True, **extra)
            return next_step(state.after_call(cost, failed=False), OutputRejected(str(exc)),
                             self.ctx)
        except BaseException:
            accounting.settle(reservation, state, completion.usage, cost, invalid=True, **extra)
            raise
        if not batched:
            self.rt.cooldowns.succeeded(state.model)  # closes a half-open model (its probe)
        e2e_ms = (time.time() - state.sent_at) * 1000 if state.sent_at else None
        accounting.settle(reservation, state, completion.usage, cost, e2e_ms=e2e_ms, **extra)
        state = state.after_call(cost, failed=False)
        structured = None
        if self.call.output is not None:
            native = self.call.native_output(self.router.config, state.model) is not None
            structured = "native" if native else "prompt"
        return task_result(state, completion, cost, output, queue=self._queue(state),
                           task_id=str(self.task.request.id), batch_id=batch_id,
                           structured=structured, attribution=self.attribution)

    # -- provider batches -------------------------------------------------------------------

    def _enqueue(self, state: RouteState, batch: BatchSpec) -> Step:
        """Reserve the call at the batch rate and store it in its model's open batch; the
        message is then acknowledged (`Ignore`) and the task waits for the batch."""
        request = self._request(state)
        price = self.router.config.price_of(state.model)
        worst = worst_case_micros(self.ctx.input_tokens, request.max_tokens, price, batch=True)
        held = self._reserve(self._accounting(), state, worst, ttl=batch.reservation_seconds(),
                             call_id=batch_calls.call_id(self.task_id, state))
        if not isinstance(held, Reservation):
            return held
        batch_calls.enqueue(self.rt, self.task, state, request, held, batch, price,
                            self.task.request.headers)
        raise Ignore()

    def _batch_answer(self, state: RouteState) -> Step | dict[str, Any] | None:
        """A batch's answer brought back to this task: carry on from its call (None: the
        message is no such delivery, or a stale one)."""
        if BATCH_HEADER not in (self.task.request.headers or {}):
            return None
        record = self.rt.batches.record(self.task_id)
        if record is None or record.outcome is None or record.call != state.calls:
            return None
        return self._from_batch(state, record.outcome, record)

    def _from_batch(self, state: RouteState, stored: dict[str, Any],
                    record: TaskRecord) -> Step | dict[str, Any]:
        outcome = read_outcome(stored)
        batch_id = str(stored.get("batch_id") or "")
        held = Reservation(record.call_id, state.model_key, record.reserved_micros, held=True)
        price = read_price(record.price)  # the price when the call was made
        if isinstance(outcome, Completion):
            return self._answered(state, held, outcome, price, batch_id)
        spec = self.router.config.model_keys.get(state.route_key)
        on_failure = batch_policy.on_failure_of(spec.batch if spec else None)
        error = type(outcome).__name__ if isinstance(outcome, ProviderError) else \
            f"Batch{outcome[0].title()}"
        self._accounting().settle(held, state, Usage(), 0, error=error, batch_id=batch_id,
                                  direct_micros=0)
        if isinstance(outcome, ProviderError):
            step = next_step(state.after_call(0, failed=True), ProviderFailed(outcome), self.ctx)
            return batch_policy.after_error(step, state, outcome, on_failure)
        kind, reason = outcome
        log.info("task %s: %s batch %s: %s", self.task_id, kind, batch_id, reason)
        return batch_policy.after_unprocessed(state, kind, reason, on_failure, batch_id)

    # -- the result -------------------------------------------------------------------------

    def _queue(self, state: RouteState) -> str:
        if self.in_place:
            return state.queue
        return delivered_queue(self.task) or state.queue
