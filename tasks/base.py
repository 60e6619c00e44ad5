"""The Celery task class of every LLM task: routable at send time, thin at run time."""

from __future__ import annotations

from typing import Any

from celery import Task

from routing.router import Decision
from tasks.spec import WorkSpec
from workers.execution import execute, route
from workers.runtime import get_runtime


class LLMTask(Task):  # type: ignore[type-arg]
    """Set `spec`; the router sends each call to its tier's queue, the worker runs it."""

    spec: WorkSpec
    acks_late = True
    reject_on_worker_lost = True
    # Celery's own retry machinery is not used: hops are re-published by `execution`.
    max_retries = None

    def decide(self, kwargs: dict[str, Any]) -> Decision:
        router = get_runtime().router
        decision: Decision = route(router, self.spec.parse(kwargs, router.config))
        return decision

    def run(self, **kwargs: Any) -> dict[str, Any]:
        return execute(self, self.spec, kwargs)
