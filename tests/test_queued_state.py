"""A foreign app's task (sent by name to the default queue) for a tier with no worker: the
dispatcher forwards it to that tier's queue, where it waits; its state says `QUEUED` (with
the queue), not `STARTED` as it used to while nothing ran it."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from tests.support.broker import waiting
from tests.support.celery import WorkerProcess, foreign_app
from tests.support.wait import wait_until

pytestmark = pytest.mark.one_broker


def test_a_forwarded_task_waiting_for_a_tier_without_worker_is_queued_not_started(
    isolated_producer: tuple[dict[str, str], Celery], worker_processes: list[WorkerProcess]
) -> None:
    env, _ = isolated_producer
    # Given the dispatch tier's worker only (Haiku + the default queue): no Opus worker
    dispatcher = WorkerProcess(env, ["llm.haiku", "celery"], "dispatcher")
    worker_processes.append(dispatcher)
    dispatcher.wait_ready()
    app = foreign_app(env)
    try:
        # When a foreign app sends Opus work by name
        sent = app.send_task("llm.run", kwargs={"model_key": "strategic_decision",
                                                "prompt": "p"})
        # Then it is forwarded to llm.opus and waits there...
        wait_until(lambda: [m for m in waiting(env, "llm.opus")
                            if m["headers"].get("id") == sent.id],
                   timeout=30, what="the task waiting in llm.opus")
        # ...and its state says so, naming the queue
        result: AsyncResult[Any] = AsyncResult(sent.id, app=app)
        state: str = result.state  # (a custom state: Celery's types list its own only)
        assert state == "QUEUED", state
        assert isinstance(result.info, dict) and result.info["queue"] == "llm.opus"
    finally:
        app.close()
