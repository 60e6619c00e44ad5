"""Storing a task's call in its model's open provider batch (the Celery side of `append`).

What is stored is everything needed later, when the worker that stored it may be gone:
the request (`workers.providers.batch.request_json`), the task's own message to
re-publish with the answer (its signature: same task id, its route state, its tier's
queue), and the task's record (the reservation's call id and amount, the model's price
at this moment). A batch that this call fills is submitted at once, by this worker.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from celery import Task

from routing.batches.store import TaskRecord, custom_id
from routing.config.batch import BatchSpec
from routing.config.price import Price
from routing.config.stored import dump
from routing.spend.budget import Reservation
from workers.execution.batch_policy import BATCH_HEADER
from workers.execution.batch_sweep import BatchSweeper
from workers.execution.route_seal import seal
from workers.execution.route_state import ROUTE_HEADER, RouteState
from workers.execution.runtime import Runtime
from workers.providers.base import CompletionRequest
from workers.providers.batch import request_json

log = logging.getLogger(__name__)


def call_id(task_id: str, state: RouteState) -> str:
    """The reservation's call id of a task's batched call (the same on a redelivery, so
    that reserving it again holds it once)."""
    return f"{task_id}:{state.calls}:batch"


def enqueue(rt: Runtime, task: Task[Any, Any], state: RouteState, request: CompletionRequest,
            held: Reservation, batch: BatchSpec, price: Price,
            headers: dict[str, Any] | None) -> None:
    """Store the call; submit its batch now if this call filled it."""
    task_id = str(task.request.id)
    cfg = rt.router.config
    model = cfg.models[state.model]
    kept = {k: v for k, v in (headers or {}).items() if k != BATCH_HEADER}
    message = dict(task.signature_from_request(
        queue=state.queue,
        headers={**kept, ROUTE_HEADER: seal(state.header(), task_id, rt.settings.signing_keys[0])}))
    record = TaskRecord(custom_id(task_id), state.calls, held.call_id, state.model,
                        held.needed_micros, dump(price))
    item = {"task_id": task_id, "model_key": state.model_key,
            "request": request_json(request), "message": message,
            "record": {"custom_id": record.custom_id, "call": record.call,
                       "call_id": record.call_id, "model": record.model,
                       "reserved_micros": record.reserved_micros, "price": record.price}}
    appended = rt.batches.append(
        model=state.model, provider=str(model.provider), provider_model=model.provider_model,
        task_id=task_id, item=item, record=record, max_items=batch.max_items,
        max_wait_seconds=batch.max_wait_seconds)
    if not appended.stored:
        log.info("task %s: in a provider batch already", task_id)
        return
    log.info("task %s: waiting in the open batch of %s (%d calls)", task_id, state.model,
             appended.count)
    if appended.closed is not None:
        try:
            BatchSweeper(rt, lambda p: task.app.signature(p).apply_async()).advance(
                appended.closed, Counter())
        except Exception:  # the Beat entry submits it on its next round
            log.warning("the full batch of %s was not submitted now; the next sweep will",
                        state.model, exc_info=True)
