"""What an LLM task returns: the routing facts first, the text last.

Flower shows a result as its repr (cut at 1,024 characters; its task list shows the start
of it), so model key, model, cost, tier and queue lead and a long answer never hides
them. The order is the documented one (`tasks.run_spec.RunResult`, docs/tasks.md).
"""

from __future__ import annotations

from typing import Any

from routing.attribution import Attribution
from routing.money import usd
from workers.execution.route_state import RouteState
from workers.providers.base import Completion


def task_result(state: RouteState, completion: Completion, cost: int, output: dict[str, Any],
                *, queue: str, task_id: str, batch_id: str | None = None,
                structured: str | None = None,
                attribution: Attribution | None = None) -> dict[str, Any]:
    """The result of a task whose last call (costing `cost` micro-dollars) was `completion`
    in `state` (after the call); `queue`: where it ran from (its delivery queue, or the
    routed queue when a hop was followed in place); `batch_id`: the provider batch that
    answered its last call; `structured`: how a typed output was asked for, `native` or
    `prompt`."""
    result: dict[str, Any] = {
        "model_key": state.model_key,
        "model": state.model,
        "cost_usd": usd(state.cost_micros),
        "tier": state.tier,
        "queue": queue,
        "usage": completion.usage.as_dict(),
        # who asked (shown by Flower with the routing facts): only when attributed
        **(attribution.as_dict() if attribution else {}),
        "rule": state.rule,
        "cost_micros": state.cost_micros,
        "last_call_cost_micros": cost,
        "config_version": state.config_version,
        "attempts": state.calls,
        "provider_mode": completion.mode,
        "request_id": completion.request_id,
        "latency_s": round(completion.latency_s, 4),
        **({"batch_id": batch_id} if batch_id is not None else {}),
        "task_id": task_id,
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
    if state.hops:
        result["hops"] = list(state.hops)
    result["stop_reason"] = completion.stop_reason
    result["tool_calls"] = [call.to_dict() for call in completion.tool_calls]
    result["text"] = completion.text
    if structured is not None:
        result["structured_output"] = structured
    if output:
        result["output"] = output
    return result
