"""Announcing a task that runs in place as if it had been re-published to its queue.

A task sent by name lands on the default queue; its tier's worker now runs it there and
then (no re-publish), so no `task-sent` event names the tier's queue, and Flower would
show the task with no routing key. This sends that event through the worker consumer's
own event dispatcher (buffered, flushed by the consumer), with the fields Celery gives a
`task-sent` event, so that Flower shows an in-place task as it shows a forwarded one.
The dispatcher is registered per Celery app by a consumer bootstep (`workers.lifecycle`).
"""

from __future__ import annotations

import threading
from typing import Any

from celery.utils.saferepr import saferepr

_lock = threading.Lock()
# per app: its consumer's dispatcher, when the app sends `task-sent` events (its
# `task_send_sent_event`, read once: a worker's configuration is set before it consumes)
_dispatchers: dict[int, Any] = {}


def register(app: Any, dispatcher: Any) -> None:
    with _lock:
        if dispatcher is None or not app.conf.task_send_sent_event:
            _dispatchers.pop(id(app), None)
        else:
            _dispatchers[id(app)] = dispatcher


def sent(task: Any, queue: str, kwargs: dict[str, Any]) -> None:
    """The `task-sent` event of `task` (running now) as if sent to `queue`."""
    dispatcher = _dispatchers.get(id(task.app))
    if dispatcher is None or not getattr(dispatcher, "enabled", False):
        return
    req = task.request
    # the producer's own repr of the arguments (Celery's `argsrepr`/`kwargsrepr` headers)
    # when it sent one: a turn's messages and tools cost ~50 us more to repr again
    args = getattr(req, "argsrepr", None)
    shown = getattr(req, "kwargsrepr", None)
    dispatcher.send("task-sent", uuid=req.id, root_id=req.root_id, parent_id=req.parent_id,
                    name=task.name,
                    args=args if isinstance(args, str) else saferepr(tuple(req.args or ())),
                    kwargs=shown if isinstance(shown, str) else saferepr(kwargs),
                    retries=req.retries or 0, eta=req.eta,
                    expires=req.expires, queue=queue, exchange=queue, routing_key=queue)
