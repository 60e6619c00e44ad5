"""Queues per tier and the send-time router that picks one for each LLM task.

`route_task` is Celery's `task_routes` callable. For an LLM task (`llm.run` or a typed
`tasks.<model key>`) it reads the model key and the input size from the task name and
kwargs alone (`workers.contract.send_facts`: no task object, so a producer that imports
only `workers.app` routes too), asks the in-memory router (no Redis round trip) which
model and queue serve it, and puts the decision in the message header, sealed for the
task's id (`workers.execution.route_seal`) just before it is published. A task it cannot
route (an unknown model key, no config yet) goes to the default queue, where a worker
fails it with a clear error.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from celery.signals import before_task_publish
from kombu import Exchange, Queue

from routing.config.models import RoutingConfig
from routing.errors import RoutingError
from workers.contract import DEFAULT_QUEUE, send_facts, send_needs
from workers.execution.route_seal import seal
from workers.execution.route_state import ROUTE_HEADER, RouteState
from workers.execution.runtime import get_runtime

log = logging.getLogger(__name__)

# On RabbitMQ every tier queue is bound to this topic exchange (routing key: the queue's
# name). Celery's native delayed delivery, how countdowns work on quorum queues, routes
# through topic exchanges only; its name is not a queue's, so that the direct exchange an
# older deployment declared under a tier queue's name is no obstacle.
TIER_EXCHANGE = "llm.tiers"
QUORUM = {"x-queue-type": "quorum"}


def declare(name: str, *, quorum: bool = False) -> Queue:
    """A queue as Celery declares its default one (a direct exchange of the same name), or
    a durable quorum queue on the tiers' topic exchange (RabbitMQ's tier queues)."""
    if quorum:
        return Queue(name, Exchange(TIER_EXCHANGE, type="topic", durable=True),
                     routing_key=name, durable=True, queue_arguments=dict(QUORUM))
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def tier_queues(config: RoutingConfig, *, quorum: bool = False) -> list[Queue]:
    """The default queue (classic: foreign producers declare it as Celery does) and each
    tier's queue (`quorum` on RabbitMQ)."""
    tiers = dict.fromkeys(tier.queue for tier in config.tiers.values())
    return [declare(DEFAULT_QUEUE), *(declare(name, quorum=quorum) for name in tiers)]


def route_task(
    name: str,
    args: Any,
    kwargs: dict[str, Any] | None,
    options: dict[str, Any],
    task: Any = None,
    **_: Any,
) -> dict[str, Any] | None:
    headers = options.get("headers") or {}
    if ROUTE_HEADER in headers:
        return None  # a re-publish of a routed task: it names its queue itself
    facts = send_facts(name, kwargs)
    if facts is None:
        return None
    model_key, input_tokens = facts
    try:
        decision = get_runtime().router.decide(model_key, input_tokens,
                                               send_needs(name, kwargs))
    except RoutingError as exc:
        log.warning("task %s not routed (%s); sent to the default queue to fail there", name, exc)
        return None
    if not get_runtime().settings.signing_keys:
        _unsealed_warning()
        return {"queue": decision.queue}  # routed again on arrival, as if sent by name
    state = RouteState.initial(decision, sent_at=time.time())
    headers = {**headers, ROUTE_HEADER: _Unsealed(state.header())}
    options["headers"] = headers
    return {"queue": decision.queue, "headers": headers}


class _Unsealed(dict[str, Any]):
    """A route header `route_task` wrote, to be sealed once the task id is known (Celery
    routes before it puts the id in the headers). Only this type is sealed on the way out:
    a route header a program passed in itself never is."""


@before_task_publish.connect(weak=False)
def _seal_route(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Seal the route header `route_task` wrote, for its task id, before it is published
    (Celery's `before_task_publish`: the headers as they will be sent)."""
    route = (headers or {}).get(ROUTE_HEADER)
    if headers is not None and type(route) is _Unsealed:
        headers[ROUTE_HEADER] = seal(dict(route), str(headers["id"]),
                                     get_runtime().settings.signing_keys[0])


@functools.cache
def _unsealed_warning() -> None:
    log.warning("LLM_ROUTER_HEADER_KEYS is not set: tasks are sent without a route header "
                "and routed when they arrive (set it as on the workers to route at send time)")
