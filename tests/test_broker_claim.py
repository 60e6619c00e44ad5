"""A worker killed between taking a message off its queue and recording it loses nothing
(workers/broker/claim.py): the kill loop below hits that window on purpose, with the
test-only pause LLM_ROUTER_BROKER_PAUSE_BEFORE_RECORD, and every task still completes,
exactly once. The issue measured the loss with 300 tasks and 15 kills: that is the loop's
scale with LLM_ROUTER_TEST_SCALE=1 (`tests.support.scale`); the suite runs 8 and 5.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from celery import Celery

from tests.support.celery import WorkerProcess
from tests.support.design import DESIGN_ROUTES
from tests.support.llm_server import LLMServer
from tests.support.scale import scaled
from tests.support.wait import wait_until

HAIKU = DESIGN_ROUTES["monitoring"][0]
QUEUES = ["llm.haiku", "celery"]
TASKS = scaled(8, 300)
KILLS = scaled(5, 15)
# Short leases, so that what a killed worker held goes back within seconds
FAST = {"LLM_ROUTER_BROKER_LEASE_SECONDS": "10", "LLM_ROUTER_BROKER_LEASE_RENEW_SECONDS": "1",
        "LLM_ROUTER_BROKER_LEASE_SWEEP_SECONDS": "1"}
PAUSE = "LLM_ROUTER_BROKER_PAUSE_BEFORE_RECORD"

pytestmark = pytest.mark.one_broker


def runs(llm: LLMServer, marker: str) -> int:
    return sum(marker in json.dumps(r.body) for r in llm.requests)


def in_window(proc: WorkerProcess) -> Callable[[], bool]:
    return lambda: "before recording delivery" in proc.output()


def test_workers_killed_between_pop_and_record_lose_no_task(
    isolated_producer: tuple[dict[str, str], Celery],
    llm_server: LLMServer,
    worker_processes: list[WorkerProcess],
) -> None:
    env, producer = isolated_producer
    markers = [f"claim-{i}-{uuid.uuid4().hex[:6]}" for i in range(TASKS)]
    sent = [producer.send_task("llm.run", kwargs={"model_key": "monitoring",
                                                  "prompt": f"task {m}"}) for m in markers]
    # Given workers, one after the other, each SIGKILLed while it holds a message it took
    # off its queue and has not recorded yet (one at a time: concurrency 1)
    for i in range(KILLS):
        doomed = WorkerProcess(env, QUEUES, f"doomed{i}", concurrency=1,
                               extra_env={**FAST, PAUSE: "60"})
        worker_processes.append(doomed)
        wait_until(in_window(doomed), timeout=60, what=f"worker {i} in the window")
        doomed.kill()
    assert not llm_server.requests, "a killed worker ran a task"
    # When a worker that is not killed runs
    survivor = WorkerProcess(env, QUEUES, "survivor", extra_env=FAST)
    worker_processes.append(survivor)
    survivor.wait_ready()
    # Then every task completes, and each made its provider call once
    for result in sent:
        assert result.get(timeout=120)["model"] == HAIKU
    assert [runs(llm_server, m) for m in markers] == [1] * TASKS
    print(f"\n{TASKS} tasks, {KILLS} workers SIGKILLed between pop and record: "
          f"{TASKS} completed, each provider call made once")
