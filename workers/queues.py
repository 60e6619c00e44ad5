"""Queues per tier and the send-time router that picks one for each LLM task.

`route_task` is Celery's `task_routes` callable: for every task that names a model key it
asks the in-memory router (no Redis round trip) which model and queue serve it, and puts
the decision in the message header. A task it cannot route (bad input, no config yet)
goes to the default queue, where a worker fails it with a clear error.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, cast

from kombu import Exchange, Queue

from routing.config import RoutingConfig
from routing.errors import RoutingError
from routing.router import Decision
from workers.route_state import ROUTE_HEADER, RouteState

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "celery"


class Routable(Protocol):
    """A task that knows its model key and input size from its kwargs."""

    def decide(self, kwargs: dict[str, Any]) -> Decision: ...


def declare(name: str) -> Queue:
    """A queue as Celery declares its default one: a direct exchange of the same name."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def tier_queues(config: RoutingConfig) -> list[Queue]:
    names = [DEFAULT_QUEUE, *(tier.queue for tier in config.tiers.values())]
    return [declare(name) for name in names]


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
    if task is None:
        from workers.app import app

        task = app.tasks.get(name)
    # A plain attribute check: `isinstance` on a runtime-checkable Protocol costs ~10 us
    # on every publish, other tasks' included.
    if getattr(task, "decide", None) is None:
        return None
    try:
        decision = cast(Routable, task).decide(dict(kwargs or {}))
    except (RoutingError, ValueError) as exc:
        log.warning("task %s not routed (%s); sent to the default queue to fail there", name, exc)
        return None
    headers = {**headers, ROUTE_HEADER: RouteState.initial(decision).header()}
    options["headers"] = headers
    return {"queue": decision.queue, "headers": headers}
