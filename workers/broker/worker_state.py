"""What the Celery worker of this process is doing, as far as the transport needs it.

Read from `celery.worker.state` (module-level sets of Celery's requests, weak sets that
pool threads change while they are read). A process that runs no Celery worker (a
producer, Flower, a plain kombu consumer) has no such state.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

#: Imported by every running Celery worker, never by a producer.
_CONSUMER_MODULE = "celery.worker.consumer.consumer"


def _state() -> ModuleType | None:
    if _CONSUMER_MODULE not in sys.modules:
        return None
    from celery.worker import state

    return state


def stopping() -> bool:
    """False only in a running Celery worker that is not shutting down: elsewhere a
    closing channel puts its deliveries back at once, as kombu does."""
    state = _state()
    if state is None:
        return True
    return (getattr(state, "should_stop", None) is not None
            or getattr(state, "should_terminate", None) is not None)


def _by_tag(*sets: Iterable[Any]) -> dict[str, Any] | None:
    """{delivery tag: request}; None if the sets kept changing while read."""
    out: dict[str, Any] = {}
    for requests in sets:
        for _ in range(5):
            try:
                items = list(requests)
                break
            except RuntimeError:  # changed size during iteration
                continue
        else:
            return None
        for request in items:
            tag = getattr(getattr(request, "message", None), "delivery_tag", None)
            if isinstance(tag, str):
                out[tag] = request
    return out


def running_tags() -> set[str] | None:
    """Delivery tags of the tasks running in this process; None if unknown right now."""
    state = _state()
    if state is None:
        return set()
    found = _by_tag(state.active_requests)
    return None if found is None else set(found)


def held_requests() -> dict[str, Any]:
    """{delivery tag: request} of the tasks received here, running or waiting in the pool
    (with the threads pool, a received task waits in the pool's queue and will run)."""
    state = _state()
    if state is None:
        return {}
    return _by_tag(state.reserved_requests, state.active_requests) or {}
